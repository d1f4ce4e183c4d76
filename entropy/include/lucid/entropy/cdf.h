// Building 16-bit integer CDFs from continuous distributions, deterministically: the same
// inputs give the same tables on every platform (only IEEE double arithmetic in fixed order,
// plus a portable erfc), so encoder and decoder can each build them.
#pragma once

#include <cstdint>
#include <vector>

#include "lucid/entropy/rans.h"

namespace lucid::entropy {

// Turns non-negative probabilities (regular symbols then escape, last) into a CDF of
// size probs.size() + 1 summing to 1 << 16 with every symbol >= 1. Deterministic.
// The frequencies minimise the expected code length sum_i p_i * -log2(f_i / 65536) under those
// constraints (greedy exchange on a separable convex cost; ties go to the lower index).
// Throws std::invalid_argument unless 2 <= probs.size() <= 65536, every p is finite and >= 0
// and the sum is > 0. Probabilities need not be normalised.
std::vector<uint32_t> quantize_pmf(const std::vector<double>& probs);

// Factorized (non-parametric) prior: freezes a pmf over the values [offset, offset + n - 2]
// followed by the escape probability (last entry; it may be 0, it still gets 1/65536) into a
// table of `set` and returns the table index. `pmf_with_escape_last` has n >= 2 entries; the
// same requirements as quantize_pmf apply. For a learned factorized prior (e.g. on the
// hyper-latent z), evaluate the density on each channel's integer support once, then store the
// resulting integer table; encoder and decoder only ever use the integer table.
int add_pmf_table(CdfSet& set, const std::vector<double>& pmf_with_escape_last,
                  int32_t offset);

// Log-spaced scale table: num scales from min to max (CompressAI: 0.11 .. 256, 64 entries).
std::vector<double> make_scale_table(double min_scale = 0.11, double max_scale = 256.0,
                                     int num = 64);

// For a zero-mean Gaussian of each scale in `scales`, a table over integers [-R, R] with
// R = ceil(scale * tail_z), where Q(tail_z) = tail_mass (tail mass 1e-9 each side by default,
// tail_z = 5.998), plus the escape, whose probability is the mass outside [-R - 1/2, R + 1/2]
// (at least 1/65536 once quantized). Appended to `set` in order, so table i corresponds to
// scales[i] (i + the set's previous size, if it was not empty).
// Throws std::invalid_argument for a non-finite or non-positive scale, tail_mass outside
// (0, 0.5), or a table that would need more than 65536 symbols.
void add_gaussian_tables(CdfSet& set, const std::vector<double>& scales,
                         double tail_mass = 1e-9);

// The exact (double) probabilities add_gaussian_tables quantizes for one scale: the masses of
// -R..R, then the escape (the mass outside [-R - 1/2, R + 1/2]). `offset` (if non-null) gets -R.
// Useful to measure the ideal code length of a model.
std::vector<double> gaussian_pmf(double scale, double tail_mass, int32_t* offset);

// Index of the table to use for a predicted scale: the first i with scales[i] >= scale
// (clamped to the last entry), as in CompressAI's build_indexes. `scale` is clamped below at
// scales[0]; a NaN gives the last index. Throws std::invalid_argument for an empty table.
int scale_to_index(const std::vector<double>& scales, float scale);

// Portable standard normal CDF (no libm erfc dependency differences): Phi(x). Computed with
// IEEE double +, -, *, / only (plus exact scaling by powers of two), so every platform gets the
// same bits; absolute error < 1e-15, and relative error in the lower tail < 1e-13.
double normal_cdf(double x);

}  // namespace lucid::entropy
