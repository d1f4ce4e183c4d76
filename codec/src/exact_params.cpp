// The fixed-order entropy-parameter path (see exact_params.h for the rules it keeps).
//
// Build requirements (codec/CMakeLists.txt sets them for this file only): -ffp-contract=off, no
// -ffast-math (nor -fassociative-math, -freciprocal-math...), no precompiled LibTorch header.
#include "exact_params.h"

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#ifdef __FAST_MATH__
#error "exact_params.cpp must be compiled without -ffast-math: it relies on IEEE evaluation order"
#endif
#if FLT_EVAL_METHOD != 0
#error "exact_params.cpp needs float arithmetic evaluated in float (FLT_EVAL_METHOD 0; not x87)"
#endif

#if defined(__x86_64__) || defined(__SSE2__)
#include <xmmintrin.h>
#define LUCID_EXACT_MXCSR 1
#endif
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__GNUC__)
#define LUCID_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define LUCID_ALWAYS_INLINE inline
#endif

// x86-64 builds get AVX2 versions of the matrix kernel and of GELU next to the baseline ones
// (SSE2 there), chosen at run time. Every version computes every element by the same operations
// in the same order (AVX2 without FMA: -ffp-contract=off), so the choice changes the speed,
// never a bit.
#if defined(__GNUC__) && defined(__x86_64__)
#define LUCID_EXACT_AVX2 1
#endif

namespace lucid::codec::exact {

namespace {

// ---------------------------------------------------------------------------------------------
// Elementwise functions: double-precision approximations (errors ~1e-16 relative, far below
// float's 6e-8), rounded to float once. Only + - * / and exact bit operations.

constexpr double kInf = std::numeric_limits<double>::infinity();

// e^x for x in float's range and beyond; NaN propagates.
double exp_d(double x) {
  if (!(x > -110.0)) return x != x ? x : 0.0;  // below float's smallest subnormal
  if (x > 100.0) return kInf;                    // above float's largest value
  // x = n ln2 + r, |r| <= ln2 / 2 (Cody-Waite: n * ln2_hi is exact).
  constexpr double kShifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to integer
  double n = x * 1.4426950408889634 + kShifter;
  n -= kShifter;
  const double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  // Taylor series to r^13: remainder < 0.35^14 / 14! < 5e-18.
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // 2^n, |n| < 160: a normal double built from its exponent bits.
  const uint64_t bits = static_cast<uint64_t>(static_cast<int64_t>(n) + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// log(1 + v) for v in [0, 1]: 2 atanh(s), s = v / (2 + v) <= 1/3, series to s^33.
constexpr double kOddReciprocals[17] = {  // 1 / (2k + 1), correctly rounded as the division
    1.0 / 1,  1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11, 1.0 / 13, 1.0 / 15, 1.0 / 17,
    1.0 / 19, 1.0 / 21, 1.0 / 23, 1.0 / 25, 1.0 / 27, 1.0 / 29, 1.0 / 31, 1.0 / 33};
double log1p_unit(double v) {
  const double s = v / (2.0 + v), s2 = s * s;
  double p = kOddReciprocals[16];
  for (int k = 15; k >= 0; --k) p = p * s2 + kOddReciprocals[k];
  return 2.0 * s * p;
}

// erf on [0, 4) in eight pieces of width 1/2, each a degree-9 polynomial (coefficients computed
// with mpmath at 50 digits; relative error < 2e-12): on [0, 1/2) the Taylor series of
// erf(a) / a in a^2, on [i/2, i/2 + 1/2) a Chebyshev fit in a - (i/2 + 1/4). One table lookup
// and a short chain of multiply-adds per value, no branches on the data. (Rows are padded to 12
// for the AVX2 code's whole-vector loads.)
constexpr double kErf[8][12] = {
    {1.1283791670955126, -3.7612638903183752e-1, 1.1283791670955126e-1, -2.6866170645131252e-2,
     5.2239776254421878e-3, -8.5483270234508528e-4, 1.2055332981789664e-4, -1.4925650358406251e-5,
     1.6462114365889247e-6, -1.6365844691234924e-7, 0, 0},
    {7.1115563365382842e-1, 6.4293106920145805e-1, -4.8219830214808579e-1, 2.6788792547770245e-2,
     1.5068700175918857e-1, -5.3242549543543792e-2, -2.6873976893411317e-2, 1.8428651271099062e-2,
     2.329175222992639e-3, -3.862443306707436e-3, 0, 0},
    {9.2290012825791927e-1, 2.365211224440762e-1, -2.9565140422849442e-1, 1.6753579609682085e-1,
     -6.1592544449337987e-3, -4.7181128869862987e-2, 2.1294554763726321e-2, 3.629375054559407e-3,
     -5.5745457096802964e-3, 8.2300819506239346e-4, 0, 0},
    {9.8667167121837958e-1, 5.2774995930061784e-2, -9.2356242234774843e-2, 9.01572847419421e-2,
     -4.8102292268171923e-2, 6.6243590210714909e-3, 8.9667482114391228e-3, -6.0586653809221424e-3,
     6.6197156650330009e-4, 8.9291398480898897e-4, 0, 0},
    {9.9853728341329035e-1, 7.1423190226825531e-3, -1.6070217776965786e-2, 2.1724553479272684e-2,
     -1.9083386483039533e-2, 1.065769822830581e-2, -2.904232821036771e-3, -6.7115340964691227e-4,
     9.9734120867798261e-4, -3.5821219129505776e-4, 0, 0},
    {9.9989937807798243e-1, 5.8627724693656374e-4, -1.6122625111725031e-3, 2.7603887554448246e-3,
     -3.2581032041522027e-3, 2.7558038914396657e-3, -1.6577959869954207e-3, 6.4620688893759175e-4,
     -8.0436809088429524e-5, -7.3895089983010195e-5, 0, 0},
    {9.999956972205326e-1, 2.9189025353215903e-5, -9.4864329494607393e-5, 1.9580972165228962e-4,
     -2.8656972575641309e-4, 3.1379635774850413e-4, -2.6351084184199656e-4, 1.7002304251108898e-4,
     -8.1980828700471156e-5, 2.5411221149531049e-5, 0, 0},
    {9.9999988627273855e-1, 8.8143219906330659e-7, -3.3053668168532318e-6, 7.9696135548517464e-6,
     -1.3841738949168746e-5, 1.8371199868352283e-5, -1.9250375321596157e-5, 1.6267067085974531e-5,
     -1.1536387772211639e-5, 6.2410273361776933e-6, 0, 0},
};

LUCID_ALWAYS_INLINE double erf_abs(double a) {  // 0 <= a <= 4
  const int i = std::min(static_cast<int>(a * 2.0), 7);
  const double t = i == 0 ? a * a : a - (0.5 * i + 0.25);
  const double* c = kErf[i];
  // Estrin's scheme (a short dependency chain: GELU evaluates millions of these).
  const double t2 = t * t, t4 = t2 * t2, t8 = t4 * t4;
  const double p01 = c[0] + c[1] * t, p23 = c[2] + c[3] * t, p45 = c[4] + c[5] * t;
  const double p67 = c[6] + c[7] * t, p89 = c[8] + c[9] * t;
  const double p = (p01 + p23 * t2) + (p45 + p67 * t2) * t4 + p89 * t8;
  return i == 0 ? a * p : p;
}

LUCID_ALWAYS_INLINE float erf_inline(float x) {
  if (x != x) return x;
  // erf(4) = 1 - 1.5e-8 rounds to 1, as does erf of anything larger.
  const double a = std::min(std::fabs(static_cast<double>(x)), 4.0);
  return static_cast<float>(std::copysign(erf_abs(a), static_cast<double>(x)));
}

// exact_gelu's float operations: (x * 0.5) * (1 + erf(x * float(1 / sqrt 2))).
LUCID_ALWAYS_INLINE float gelu_inline(float x) {
  const float half = x * 0.5f;
  const float u = x * static_cast<float>(0.7071067811865476);
  return half * (1.0f + erf_inline(u));
}

// ---------------------------------------------------------------------------------------------
// IEEE's default floating-point environment for a scope, whatever the caller set: round to
// nearest even, subnormal numbers kept (no flush-to-zero, no denormals-are-zero; LibTorch's
// set_flush_denormal would otherwise change results), exceptions masked. x86 (MXCSR) only; on
// other targets the caller's environment is assumed to be the default.
class IeeeScope {
 public:
#ifdef LUCID_EXACT_MXCSR
  IeeeScope() : saved_(_mm_getcsr()) { _mm_setcsr(0x1F80); }
  ~IeeeScope() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

// ---------------------------------------------------------------------------------------------
}  // namespace

// Threads over independent positions: a job's parts are taken in turn by the calling thread
// and the pool's workers (parked on a condition variable between jobs: no spinning, nothing
// created per job). Which thread computes a part never changes a result: every element is
// computed by the same code wherever it falls. The caller waits for the parts, not for the
// workers: one that wakes late (a busy machine) finds nothing left and goes back to sleep.
class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(i) for i in [0, parts); rethrows the first exception.
  void run(int parts, const std::function<void(int)>& fn) {
    IeeeScope ieee;
    if (workers_.empty() || parts <= 1) {
      for (int i = 0; i < parts; ++i) fn(i);
      return;
    }
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->parts = parts;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = job;
      ++generation_;
    }
    wake_.notify_all();
    take_parts(*job);
    std::unique_lock<std::mutex> lock(job->mutex);
    job->finished.wait(lock, [&] { return job->done == job->parts; });
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  struct Job {
    const std::function<void(int)>* fn = nullptr;
    int parts = 0;
    std::atomic<int> next{0};
    int done = 0;  // guarded by mutex
    std::exception_ptr error;
    std::mutex mutex;
    std::condition_variable finished;
  };

  static void take_parts(Job& job) {
    for (int i; (i = job.next++) < job.parts;) {
      std::exception_ptr error;
      try {
        (*job.fn)(i);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(job.mutex);
      if (error && !job.error) job.error = error;
      if (++job.done == job.parts) job.finished.notify_all();
    }
  }

  void work() {
    IeeeScope ieee;
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      take_parts(*job);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::shared_ptr<Job> job_;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

namespace {

// fn(lo, hi) over [0, n) in parts of `grain` positions (the last one shorter).
template <class F>
void parallel_for(int n, Pool& pool, int grain, const F& fn) {
  const int parts = (n + grain - 1) / grain;
  pool.run(parts, [&](int i) { fn(i * grain, std::min(n, (i + 1) * grain)); });
}

// ---------------------------------------------------------------------------------------------
// The matrix kernel: for rows r < R and outputs o < O,
//   y[r * ldy + o] = b[o] + sum over taps t < T, inputs k < K (in that order) of
//                    xs[r * T + t][k] * w[(t * K + k) * O + o],
// accumulated in float, one rounding per + and per *. A tile keeps RB x CB accumulators
// (rows x consecutive outputs) and vectorises across the CB outputs only.

// GCC's generic vectors of consecutive outputs: lane-wise IEEE operations, nothing else.
// Loaded and stored by memcpy (unaligned; a template argument loses alignment attributes).
typedef float Vec4 __attribute__((vector_size(16)));
typedef float Vec8 __attribute__((vector_size(32)));

template <class V>
LUCID_ALWAYS_INLINE void load(V& v, const float* p) {
  std::memcpy(&v, p, sizeof v);
}
template <class V>
LUCID_ALWAYS_INLINE void store(float* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

template <class V, int RB, int CB>
LUCID_ALWAYS_INLINE void tile(const float* const* xs, int T, int K, const float* w, int O,
                              const float* b, float* y, int ldy) {
  constexpr int L = sizeof(V) / sizeof(float), NV = CB / L;
  static_assert(CB % L == 0, "a tile is whole vectors wide");
  V acc[RB][NV];
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) load(acc[r][v], b + L * v);
  for (int t = 0; t < T; ++t) {
    const float* x[RB];
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) x[r] = xs[r * T + t];
    const float* wt = w + static_cast<size_t>(t) * K * O;
    for (int k = 0; k < K; ++k) {
      const float* wk = wt + static_cast<size_t>(k) * O;
      V wv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) load(wv[v], wk + L * v);
#pragma GCC unroll 8
      for (int r = 0; r < RB; ++r) {
        const float xv = x[r][k];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = acc[r][v] + xv * wv[v];
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) store<V>(y + r * ldy + L * v, acc[r][v]);
}

// One row, cb <= 16 outputs, plain scalar code (the last, narrower column block; the scalar
// kernel uses it throughout).
LUCID_ALWAYS_INLINE void tile_narrow(const float* const* xs, int T, int K, const float* w, int O,
                                     const float* b, float* y, int cb) {
  float acc[16];
  for (int c = 0; c < cb; ++c) acc[c] = b[c];
  for (int t = 0; t < T; ++t) {
    const float* x = xs[t];
    const float* wt = w + static_cast<size_t>(t) * K * O;
    for (int k = 0; k < K; ++k) {
      const float* wk = wt + static_cast<size_t>(k) * O;
      const float xv = x[k];
      for (int c = 0; c < cb; ++c) acc[c] += xv * wk[c];
    }
  }
  for (int c = 0; c < cb; ++c) y[c] = acc[c];
}

template <class V, int RB>
LUCID_ALWAYS_INLINE void matmul_impl(const float* const* xs, int R, int T, int K, const float* w,
                                     const float* b, int O, float* y, int ldy) {
  constexpr int CB = 16;
  int o0 = 0;
  for (; o0 + CB <= O; o0 += CB) {
    int r = 0;
    for (; r + RB <= R; r += RB)
      tile<V, RB, CB>(xs + r * T, T, K, w + o0, O, b + o0, y + static_cast<size_t>(r) * ldy + o0,
                      ldy);
    for (; r < R; ++r)
      tile<V, 1, CB>(xs + r * T, T, K, w + o0, O, b + o0, y + static_cast<size_t>(r) * ldy + o0,
                     ldy);
  }
  if (o0 < O)
    for (int r = 0; r < R; ++r)
      tile_narrow(xs + r * T, T, K, w + o0, O, b + o0, y + static_cast<size_t>(r) * ldy + o0,
                  O - o0);
}

using MatmulFn = void (*)(const float* const*, int, int, int, const float*, const float*, int,
                          float*, int);

// 4-wide vectors (SSE2 on x86-64): 3 rows x 4 vectors of accumulators in 16 registers.
void matmul_sse(const float* const* xs, int R, int T, int K, const float* w, const float* b,
                int O, float* y, int ldy) {
  matmul_impl<Vec4, 3>(xs, R, T, K, w, b, O, y, ldy);
}

// Scalar code only (a check that the vector width changes nothing).
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-vectorize")))
#endif
void matmul_scalar(const float* const* xs, int R, int T, int K, const float* w, const float* b,
                   int O, float* y, int ldy) {
  for (int o0 = 0; o0 < O; o0 += 16)
    for (int r = 0; r < R; ++r)
      tile_narrow(xs + r * T, T, K, w + o0, O, b + o0, y + static_cast<size_t>(r) * ldy + o0,
                  std::min(16, O - o0));
}

// GELU over an array, one value at a time.
void gelu_scalar(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = gelu_inline(x[i]);
}

#ifdef LUCID_EXACT_AVX2
// 16 ymm registers: 6 rows x 2 vectors of accumulators, 2 weight vectors, 1 broadcast.
__attribute__((target("avx2"))) void matmul_avx2(const float* const* xs, int R, int T, int K,
                                                 const float* w, const float* b, int O, float* y,
                                                 int ldy) {
  matmul_impl<Vec8, 6>(xs, R, T, K, w, b, O, y, ldy);
}

// gelu_inline four values at a time: every lane goes through exactly the operations of
// gelu_inline, erf_inline and erf_abs in the same order (each lane's coefficients are loaded
// from its row, the two forms of t and of the result are both computed and one chosen),
// so the bits are the scalar function's (a test compares them).
__attribute__((target("avx2"))) void gelu_avx2(float* x, size_t n) {
  const __m256d sign = _mm256_set1_pd(-0.0), four = _mm256_set1_pd(4.0);
  const __m256d two = _mm256_set1_pd(2.0), half_d = _mm256_set1_pd(0.5);
  const __m256d quarter = _mm256_set1_pd(0.25);
  const __m128i seven = _mm_set1_epi32(7);
  const __m128 half = _mm_set1_ps(0.5f), one = _mm_set1_ps(1.0f);
  const __m128 inv_sqrt2 = _mm_set1_ps(static_cast<float>(0.7071067811865476));
  const double* table = &kErf[0][0];
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m128 xf = _mm_loadu_ps(x + i);
    const __m128 h = _mm_mul_ps(xf, half);
    const __m128 u = _mm_mul_ps(xf, inv_sqrt2);
    const __m256d ud = _mm256_cvtps_pd(u);
    // a = min(|u|, 4) (a NaN u is put back at the end); piece i = min(int(2a), 7)
    const __m256d a = _mm256_min_pd(_mm256_andnot_pd(sign, ud), four);
    const __m128i piece = _mm_min_epi32(_mm256_cvttpd_epi32(_mm256_mul_pd(a, two)), seven);
    const __m256d first =
        _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_cmpeq_epi32(piece, _mm_setzero_si128())));
    const __m256d centre =
        _mm256_add_pd(_mm256_mul_pd(half_d, _mm256_cvtepi32_pd(piece)), quarter);
    const __m256d t =
        _mm256_blendv_pd(_mm256_sub_pd(a, centre), _mm256_mul_pd(a, a), first);
    // Each lane's row of coefficients, transposed into one vector per coefficient.
    const double* rows[4] = {table + 12 * _mm_extract_epi32(piece, 0),
                             table + 12 * _mm_extract_epi32(piece, 1),
                             table + 12 * _mm_extract_epi32(piece, 2),
                             table + 12 * _mm_extract_epi32(piece, 3)};
    __m256d c[12];
    for (int q = 0; q < 12; q += 4) {
      const __m256d r0 = _mm256_loadu_pd(rows[0] + q), r1 = _mm256_loadu_pd(rows[1] + q);
      const __m256d r2 = _mm256_loadu_pd(rows[2] + q), r3 = _mm256_loadu_pd(rows[3] + q);
      const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
      const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
      c[q] = _mm256_permute2f128_pd(t0, t2, 0x20);
      c[q + 1] = _mm256_permute2f128_pd(t1, t3, 0x20);
      c[q + 2] = _mm256_permute2f128_pd(t0, t2, 0x31);
      c[q + 3] = _mm256_permute2f128_pd(t1, t3, 0x31);
    }
    const __m256d t2 = _mm256_mul_pd(t, t), t4 = _mm256_mul_pd(t2, t2);
    const __m256d t8 = _mm256_mul_pd(t4, t4);
    const __m256d p01 = _mm256_add_pd(c[0], _mm256_mul_pd(c[1], t));
    const __m256d p23 = _mm256_add_pd(c[2], _mm256_mul_pd(c[3], t));
    const __m256d p45 = _mm256_add_pd(c[4], _mm256_mul_pd(c[5], t));
    const __m256d p67 = _mm256_add_pd(c[6], _mm256_mul_pd(c[7], t));
    const __m256d p89 = _mm256_add_pd(c[8], _mm256_mul_pd(c[9], t));
    const __m256d lo = _mm256_add_pd(p01, _mm256_mul_pd(p23, t2));
    const __m256d mid = _mm256_mul_pd(_mm256_add_pd(p45, _mm256_mul_pd(p67, t2)), t4);
    const __m256d p = _mm256_add_pd(_mm256_add_pd(lo, mid), _mm256_mul_pd(p89, t8));
    __m256d r = _mm256_blendv_pd(p, _mm256_mul_pd(a, p), first);
    r = _mm256_or_pd(_mm256_andnot_pd(sign, r), _mm256_and_pd(sign, ud));  // copysign(r, u)
    __m128 e = _mm256_cvtpd_ps(r);
    e = _mm_blendv_ps(e, u, _mm_cmpunord_ps(u, u));  // erf(NaN) is that NaN
    _mm_storeu_ps(x + i, _mm_mul_ps(h, _mm_add_ps(one, e)));
  }
  gelu_scalar(x + i, n - i);
}
#endif

using GeluFn = void (*)(float*, size_t);
struct Kernels {
  MatmulFn matmul;
  GeluFn gelu;
};
const Kernels kScalarKernels = {matmul_scalar, gelu_scalar};
const Kernels kSseKernels = {matmul_sse, gelu_scalar};
#ifdef LUCID_EXACT_AVX2
const Kernels kAvx2Kernels = {matmul_avx2, gelu_avx2};
#endif

const Kernels* kernels_for(Kernel k) {
  switch (k) {
    case Kernel::kScalar: return &kScalarKernels;
    case Kernel::kSse: return &kSseKernels;
    case Kernel::kAvx2:
#ifdef LUCID_EXACT_AVX2
      if (__builtin_cpu_supports("avx2")) return &kAvx2Kernels;
#endif
      return nullptr;
    default: break;
  }
#ifdef LUCID_EXACT_AVX2
  if (__builtin_cpu_supports("avx2")) return &kAvx2Kernels;
#endif
  return &kSseKernels;
}

// Kernel::kAuto, or LUCID_EXACT_KERNEL=scalar|sse|avx2 in the environment at first use.
std::atomic<const Kernels*> g_kernels{nullptr};

const Kernels& kernels() {
  const Kernels* f = g_kernels.load(std::memory_order_acquire);
  if (f) return *f;
  Kernel k = Kernel::kAuto;
  if (const char* e = std::getenv("LUCID_EXACT_KERNEL")) {
    const std::string v = e;
    k = v == "scalar" ? Kernel::kScalar : v == "sse" ? Kernel::kSse
        : v == "avx2" ? Kernel::kAvx2 : Kernel::kAuto;
  }
  f = kernels_for(k);
  if (!f) f = kernels_for(Kernel::kAuto);
  g_kernels.store(f, std::memory_order_release);
  return *f;
}

void matmul(const float* const* xs, int R, int T, int K, const float* w, const float* b, int O,
            float* y, int ldy) {
  kernels().matmul(xs, R, T, K, w, b, O, y, ldy);
}

void gelu(float* x, size_t n) { kernels().gelu(x, n); }

// y [n][l.out] = x [n][l.in] W + b.
void linear(const Linear& l, const float* x, int n, float* y, std::vector<const float*>& rows) {
  rows.resize(n);
  for (int r = 0; r < n; ++r) rows[r] = x + static_cast<size_t>(r) * l.in;
  matmul(rows.data(), n, 1, l.in, l.w.data(), l.b.data(), l.out, y, l.out);
}

// The 3x3 convolution at positions [p0, p1) of an H x W channel-last map:
// y [p1 - p0][c.out]. `zeros` holds c.in zeros (the padding).
void conv_rows(const Conv3x3& c, const float* in, int H, int W, int p0, int p1, float* y,
               const float* zeros, std::vector<const float*>& rows) {
  const int n = p1 - p0;
  rows.resize(static_cast<size_t>(n) * 9);
  for (int r = 0; r < n; ++r) {
    const int py = (p0 + r) / W, px = (p0 + r) % W;
    for (int ky = 0; ky < 3; ++ky)
      for (int kx = 0; kx < 3; ++kx) {
        const int yy = py + ky - 1, xx = px + kx - 1;
        rows[r * 9 + ky * 3 + kx] = yy >= 0 && yy < H && xx >= 0 && xx < W
                                        ? in + (static_cast<size_t>(yy) * W + xx) * c.in
                                        : zeros;
      }
  }
  matmul(rows.data(), n, 9, c.in, c.w.data(), c.b.data(), c.out, y, c.out);
}

constexpr int kBlock = 48;  // positions per step of a worker (a multiple of both row tiles)

// A whole map through a convolution, GELU after it when `gelu`; with `shuffle` the output is
// pixel-shuffled (torch's pixel_shuffle(2): channel c * 4 + i * 2 + j at (y, x) goes to channel
// c at (2y + i, 2x + j)), giving a 2H x 2W map of c.out / 4 channels.
std::vector<float> conv_map(const Conv3x3& c, const std::vector<float>& in, int H, int W,
                            bool with_gelu, bool shuffle, Pool& pool) {
  const int P = H * W;
  std::vector<float> out(static_cast<size_t>(P) * c.out);
  const std::vector<float> zeros(c.in, 0.0f);
  parallel_for(P, pool, kBlock, [&](int lo, int hi) {
    std::vector<const float*> rows;
    std::vector<float> tmp(static_cast<size_t>(kBlock) * c.out);
    for (int p0 = lo; p0 < hi; p0 += kBlock) {
      const int p1 = std::min(hi, p0 + kBlock), n = p1 - p0;
      float* y = shuffle ? tmp.data() : out.data() + static_cast<size_t>(p0) * c.out;
      conv_rows(c, in.data(), H, W, p0, p1, y, zeros.data(), rows);
      if (with_gelu) gelu(y, static_cast<size_t>(n) * c.out);
      if (shuffle) {
        const int C = c.out / 4;
        for (int r = 0; r < n; ++r) {
          const int py = (p0 + r) / W, px = (p0 + r) % W;
          for (int ch = 0; ch < C; ++ch)
            for (int i = 0; i < 2; ++i)
              for (int j = 0; j < 2; ++j)
                out[(static_cast<size_t>(2 * py + i) * (2 * W) + 2 * px + j) * C + ch] =
                    y[static_cast<size_t>(r) * c.out + ch * 4 + i * 2 + j];
        }
      }
    }
  });
  return out;
}

void layer_norm(const LayerNorm& ln, const float* x, float* y) {
  const int d = ln.dim;
  double s = 0.0;
  for (int i = 0; i < d; ++i) s += x[i];
  const double mu = s / d;
  double v = 0.0;
  for (int i = 0; i < d; ++i) {
    const double e = x[i] - mu;
    v += e * e;
  }
  const double rs = 1.0 / std::sqrt(v / d + ln.eps);
  for (int i = 0; i < d; ++i)
    y[i] = static_cast<float>((x[i] - mu) * rs * ln.gamma[i] + ln.beta[i]);
}

void check_linear(const Linear& l, int in, int out, const char* what) {
  if (l.in != in || (out >= 0 && l.out != out) || l.out < 1 ||
      l.w.size() != static_cast<size_t>(l.in) * l.out || l.b.size() != static_cast<size_t>(l.out))
    throw std::invalid_argument(std::string("exact path: ") + what + " has the wrong shape");
}
void check_conv(const Conv3x3& c, int in, int out, const char* what) {
  if (c.in != in || (out >= 0 && c.out != out) || c.out < 1 ||
      c.w.size() != size_t{9} * c.in * c.out || c.b.size() != static_cast<size_t>(c.out))
    throw std::invalid_argument(std::string("exact path: ") + what + " has the wrong shape");
}
void check_ln(const LayerNorm& ln, int dim, const char* what) {
  if (ln.dim != dim || ln.gamma.size() != static_cast<size_t>(dim) ||
      ln.beta.size() != static_cast<size_t>(dim) || !(ln.eps > 0))
    throw std::invalid_argument(std::string("exact path: ") + what + " has the wrong shape");
}

}  // namespace

// ---------------------------------------------------------------------------------------------

bool use_kernel(Kernel k) {
  const Kernels* f = kernels_for(k);
  if (!f) return false;
  g_kernels.store(f, std::memory_order_release);
  return true;
}

void gelu_inplace(float* x, size_t n) { gelu(x, n); }

float exp_f(float x) { return static_cast<float>(exp_d(x)); }

float tanh_f(float x) {
  const double a = std::fabs(static_cast<double>(x));
  if (!(a < 10.0)) return x != x ? x : std::copysign(1.0f, x);  // tanh(10) rounds to 1
  double t;
  if (a < 0.02) {  // Taylor series to a^9: remainder < 1e-19 relative
    const double s = a * a;
    t = a * (1.0 + s * (-1.0 / 3.0 + s * (2.0 / 15.0 + s * (-17.0 / 315.0 + s * (62.0 / 2835.0)))));
  } else {
    const double e = exp_d(2.0 * a);
    t = (e - 1.0) / (e + 1.0);
  }
  return static_cast<float>(std::copysign(t, static_cast<double>(x)));
}

float erf_f(float x) { return erf_inline(x); }

float softplus_f(float x) {
  if (x > 20.0f || x != x) return x;
  const double d = x;
  return static_cast<float>((d > 0.0 ? d : 0.0) + log1p_unit(exp_d(-std::fabs(d))));
}

float gelu_f(float x) { return gelu_inline(x); }

int32_t grid_code(float v) {
  const float r = std::nearbyint(v * kGrid);
  if (!(r >= -2147483648.0f && r < 2147483648.0f)) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(r);
}

void Model::check() const {
  const int Nz = static_cast<int>(z_median.size());
  if (Nz < 1 || slices < 1 || slice_channels < 1 || dim < 1 || heads < 1 || dim % heads)
    throw std::invalid_argument("exact path: inconsistent sizes");
  check_conv(hs_in, Nz, -1, "h_s.0");
  if (hs_up1.out % 4 || hs_up2.out % 4)
    throw std::invalid_argument("exact path: an upsampling conv's width is not a multiple of 4");
  check_conv(hs_up1, hs_in.out, -1, "h_s.2");
  check_conv(hs_up2, hs_up1.out / 4, -1, "h_s.4");
  check_conv(hs_out, hs_up2.out / 4, -1, "h_s.6");
  check_linear(hyper_in, hs_out.out, dim, "tca.hyper_in");
  check_conv(slice_in, slice_channels, dim, "tca.slice_in");
  if (slice_embed.size() != static_cast<size_t>(slices) * dim)
    throw std::invalid_argument("exact path: tca.slice_embed has the wrong shape");
  for (const TcaLayer& l : layers) {
    check_ln(l.ln1, dim, "tca.ln1");
    check_ln(l.ln2, dim, "tca.ln2");
    check_linear(l.qkv, dim, 3 * dim, "tca.qkv");
    check_linear(l.proj, dim, dim, "tca.proj");
    check_linear(l.fc1, dim, -1, "tca.fc1");
    check_linear(l.fc2, l.fc1.out, dim, "tca.fc2");
  }
  check_ln(ln_out, dim, "tca.ln_out");
  check_linear(head, dim, 2 * slice_channels, "tca.head");
  check_linear(lrp1, dim + slice_channels, -1, "tca.lrp1");
  check_linear(lrp2, lrp1.out, slice_channels, "tca.lrp2");
}

namespace {

const Param& find_param(const std::map<std::string, Param>& params, const std::string& name,
                        const std::vector<int64_t>& shape) {
  const auto it = params.find(name);
  if (it == params.end()) throw std::invalid_argument("exact path: no parameter " + name);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (it->second.shape != shape || it->second.data.size() != static_cast<size_t>(n))
    throw std::invalid_argument("exact path: parameter " + name + " has the wrong shape");
  return it->second;
}

// The size of dimension `dim` of a parameter (for the sizes the weights themselves define).
int64_t param_size(const std::map<std::string, Param>& params, const std::string& name,
                   size_t dim) {
  const auto it = params.find(name);
  if (it == params.end()) throw std::invalid_argument("exact path: no parameter " + name);
  if (it->second.shape.size() <= dim || it->second.shape[dim] < 1 ||
      it->second.shape[dim] > (int64_t{1} << 20))
    throw std::invalid_argument("exact path: parameter " + name + " has the wrong shape");
  return it->second.shape[dim];
}

// torch::nn::Linear: weight [out][in], bias [out] -> w [in][out].
Linear make_linear(const std::map<std::string, Param>& params, const std::string& name) {
  Linear l;
  l.out = static_cast<int>(param_size(params, name + ".weight", 0));
  l.in = static_cast<int>(param_size(params, name + ".weight", 1));
  const Param& w = find_param(params, name + ".weight", {l.out, l.in});
  l.b = find_param(params, name + ".bias", {l.out}).data;
  l.w.resize(static_cast<size_t>(l.in) * l.out);
  for (int o = 0; o < l.out; ++o)
    for (int i = 0; i < l.in; ++i)
      l.w[static_cast<size_t>(i) * l.out + o] = w.data[static_cast<size_t>(o) * l.in + i];
  return l;
}

// torch::nn::Conv2d 3x3: weight [out][in][3][3] -> w [ky][kx][in][out].
Conv3x3 make_conv(const std::map<std::string, Param>& params, const std::string& name) {
  Conv3x3 c;
  c.out = static_cast<int>(param_size(params, name + ".weight", 0));
  c.in = static_cast<int>(param_size(params, name + ".weight", 1));
  const Param& w = find_param(params, name + ".weight", {c.out, c.in, 3, 3});
  c.b = find_param(params, name + ".bias", {c.out}).data;
  c.w.resize(size_t{9} * c.in * c.out);
  for (int o = 0; o < c.out; ++o)
    for (int i = 0; i < c.in; ++i)
      for (int k = 0; k < 9; ++k)
        c.w[(static_cast<size_t>(k) * c.in + i) * c.out + o] =
            w.data[(static_cast<size_t>(o) * c.in + i) * 9 + k];
  return c;
}

LayerNorm make_ln(const std::map<std::string, Param>& params, const std::string& name) {
  LayerNorm ln;  // torch::nn::LayerNormOptions' default eps, 1e-5
  ln.dim = static_cast<int>(param_size(params, name + ".weight", 0));
  ln.gamma = find_param(params, name + ".weight", {ln.dim}).data;
  ln.beta = find_param(params, name + ".bias", {ln.dim}).data;
  return ln;
}

}  // namespace

Model model_from_parameters(const std::map<std::string, Param>& params,
                            std::vector<float> z_median, int slices, int heads, int layers) {
  Model m;
  m.slices = slices;
  m.heads = heads;
  m.z_median = std::move(z_median);
  m.hs_in = make_conv(params, "h_s.0");
  m.hs_up1 = make_conv(params, "h_s.2.conv");
  m.hs_up2 = make_conv(params, "h_s.4.conv");
  m.hs_out = make_conv(params, "h_s.6");
  m.hyper_in = make_linear(params, "tca.hyper_in");
  m.slice_in = make_conv(params, "tca.slice_in");
  m.dim = m.hyper_in.out;
  m.slice_channels = m.slice_in.in;
  if (slices < 1 || slices > 4096 || layers < 0 || layers > 64)
    throw std::invalid_argument("exact path: inconsistent sizes");
  m.slice_embed = find_param(params, "tca.slice_embed", {slices, m.dim}).data;
  for (int l = 0; l < layers; ++l) {
    const std::string i = "." + std::to_string(l);
    TcaLayer t;
    t.ln1 = make_ln(params, "tca.ln1" + i);
    t.ln2 = make_ln(params, "tca.ln2" + i);
    t.qkv = make_linear(params, "tca.qkv" + i);
    t.proj = make_linear(params, "tca.proj" + i);
    t.fc1 = make_linear(params, "tca.fc1" + i);
    t.fc2 = make_linear(params, "tca.fc2" + i);
    m.layers.push_back(std::move(t));
  }
  m.ln_out = make_ln(params, "tca.ln_out");
  m.head = make_linear(params, "tca.head");
  m.lrp1 = make_linear(params, "tca.lrp1");
  m.lrp2 = make_linear(params, "tca.lrp2");
  m.check();
  return m;
}

Session::Session(const Model& m, const int32_t* z_sym, int zh, int zw, int threads)
    : m_(m), H_(4 * zh), W_(4 * zw), P_(16 * zh * zw) {
  if (zh < 1 || zw < 1) throw std::invalid_argument("exact path: empty hyper-latent");
  IeeeScope ieee;
  // More threads than parts of work would only sleep.
  pool_ = std::make_unique<Pool>(std::max(1, std::min(threads, (P_ + kBlock - 1) / kBlock)));
  const int Nz = static_cast<int>(m.z_median.size()), pz = zh * zw;
  // z_hat = symbols + medians, channel-last.
  std::vector<float> z(static_cast<size_t>(pz) * Nz);
  for (int c = 0; c < Nz; ++c)
    for (int p = 0; p < pz; ++p)
      z[static_cast<size_t>(p) * Nz + c] =
          static_cast<float>(z_sym[static_cast<size_t>(c) * pz + p]) + m.z_median[c];
  std::vector<float> a = conv_map(m.hs_in, z, zh, zw, true, false, *pool_);
  a = conv_map(m.hs_up1, a, zh, zw, true, true, *pool_);
  a = conv_map(m.hs_up2, a, 2 * zh, 2 * zw, true, true, *pool_);
  hyper_ = conv_map(m.hs_out, a, H_, W_, false, false, *pool_);

  const size_t P = P_, S = m.slice_channels, d = m.dim;
  prev_.assign(P * S, 0.0f);
  out_.assign(P * d, 0.0f);
  mean_.assign(P * S, 0.0f);
  keys_.assign(m.layers.size() * P * m.slices * d, 0.0f);
  values_.assign(keys_.size(), 0.0f);
}

Session::~Session() = default;

void Session::predict(float* mean, float* scale, float* raw_mean) {
  if (predicted_ || next_ >= m_.slices)
    throw std::logic_error("exact path: predict() out of turn");
  parallel_for(P_, *pool_, kBlock,
               [&](int lo, int hi) { predict_range(lo, hi, mean, scale, raw_mean); });
  predicted_ = true;
}

void Session::commit(const int32_t* sym, float* refined, int32_t* codes) {
  if (!predicted_) throw std::logic_error("exact path: commit() before predict()");
  parallel_for(P_, *pool_, kBlock,
               [&](int lo, int hi) { commit_range(lo, hi, sym, refined, codes); });
  predicted_ = false;
  ++next_;
}

void Session::predict_range(int lo, int hi, float* mean_out, float* scale_out, float* raw_out) {
  const Model& m = m_;
  const int k = next_, d = m.dim, S = m.slice_channels, K = m.slices;
  const int nh = m.heads, dh = d / nh;
  const size_t P = P_;
  int hidden = 1;
  for (const TcaLayer& l : m.layers) hidden = std::max(hidden, l.fc1.out);
  std::vector<const float*> rows;
  std::vector<float> h(kBlock * d), a(kBlock * d), qkv(kBlock * 3 * d), o(kBlock * d);
  std::vector<float> f(static_cast<size_t>(kBlock) * hidden), g(kBlock * d);
  std::vector<float> params(kBlock * 2 * S);
  const std::vector<float> zeros(S, 0.0f);
  // torch: matmul(q, k^T) / sqrt(dh), the double divisor applied as a float.
  const float sqrt_dh = static_cast<float>(std::sqrt(static_cast<double>(dh)));
  std::vector<float> att(static_cast<size_t>(nh) * K);

  for (int p0 = lo; p0 < hi; p0 += kBlock) {
    const int p1 = std::min(hi, p0 + kBlock), n = p1 - p0;
    // The token: the hyperprior's for slice 0, else the previous refined slice's 3x3
    // neighbourhood; plus the slice embedding.
    if (k == 0)
      linear(m.hyper_in, hyper_.data() + static_cast<size_t>(p0) * m.hyper_in.in, n, h.data(),
             rows);
    else
      conv_rows(m.slice_in, prev_.data(), H_, W_, p0, p1, h.data(), zeros.data(), rows);
    const float* emb = m.slice_embed.data() + static_cast<size_t>(k) * d;
    for (int r = 0; r < n; ++r)
      for (int c = 0; c < d; ++c) h[r * d + c] = h[r * d + c] + emb[c];

    for (size_t l = 0; l < m.layers.size(); ++l) {
      const TcaLayer& L = m.layers[l];
      for (int r = 0; r < n; ++r) layer_norm(L.ln1, &h[r * d], &a[r * d]);
      linear(L.qkv, a.data(), n, qkv.data(), rows);
      for (int r = 0; r < n; ++r) {
        const size_t p = p0 + r;
        float* keys = keys_.data() + ((l * P + p) * K) * d;    // [K][d]
        float* values = values_.data() + ((l * P + p) * K) * d;
        const float* q = &qkv[static_cast<size_t>(r) * 3 * d];
        std::memcpy(keys + static_cast<size_t>(k) * d, q + d, d * sizeof(float));
        std::memcpy(values + static_cast<size_t>(k) * d, q + 2 * d, d * sizeof(float));
        // Scores of tokens 0..k per head: each a dot product in index order (the loops over
        // heads and tokens only interleave independent sums).
        const int T = k + 1;
        for (int i = 0; i < nh * T; ++i) att[i] = 0.0f;
        for (int j = 0; j < dh; ++j)
          for (int hd = 0; hd < nh; ++hd)
            for (int t = 0; t < T; ++t)
              att[hd * T + t] += q[hd * dh + j] * keys[static_cast<size_t>(t) * d + hd * dh + j];
        for (int hd = 0; hd < nh; ++hd) {
          float* s = &att[hd * T];
          float mx = s[0] / sqrt_dh;
          for (int t = 0; t < T; ++t) {
            s[t] = s[t] / sqrt_dh;
            mx = std::max(mx, s[t]);
          }
          float sum = 0.0f;
          for (int t = 0; t < T; ++t) {
            s[t] = exp_f(s[t] - mx);
            sum += s[t];
          }
          for (int t = 0; t < T; ++t) s[t] = s[t] / sum;
        }
        float* orow = &o[static_cast<size_t>(r) * d];
        for (int hd = 0; hd < nh; ++hd)
          for (int j = 0; j < dh; ++j) orow[hd * dh + j] = att[hd * T] * values[hd * dh + j];
        for (int t = 1; t < T; ++t)
          for (int hd = 0; hd < nh; ++hd) {
            const float w = att[hd * T + t];
            const float* v = values + static_cast<size_t>(t) * d + hd * dh;
            for (int j = 0; j < dh; ++j) orow[hd * dh + j] += w * v[j];
          }
      }
      linear(L.proj, o.data(), n, g.data(), rows);
      for (int i = 0; i < n * d; ++i) h[i] = h[i] + g[i];
      for (int r = 0; r < n; ++r) layer_norm(L.ln2, &h[r * d], &a[r * d]);
      linear(L.fc1, a.data(), n, f.data(), rows);
      gelu(f.data(), static_cast<size_t>(n) * L.fc1.out);
      linear(L.fc2, f.data(), n, g.data(), rows);
      for (int i = 0; i < n * d; ++i) h[i] = h[i] + g[i];
    }
    float* out = out_.data() + static_cast<size_t>(p0) * d;
    for (int r = 0; r < n; ++r) layer_norm(m.ln_out, &h[r * d], out + r * d);
    linear(m.head, out, n, params.data(), rows);
    for (int r = 0; r < n; ++r) {
      const size_t p = p0 + r;
      for (int c = 0; c < S; ++c) {
        const float raw = params[r * 2 * S + c];
        const float mu = std::nearbyint(raw * kGrid) / kGrid;
        if (raw_out) raw_out[c * P + p] = raw;
        mean_[p * S + c] = mu;
        mean_out[c * P + p] = mu;
        scale_out[c * P + p] = softplus_f(params[r * 2 * S + S + c]);
      }
    }
  }
}

void Session::commit_range(int lo, int hi, const int32_t* sym, float* refined,
                           int32_t* codes) {
  const Model& m = m_;
  const int d = m.dim, S = m.slice_channels, hidden = m.lrp1.out;
  const size_t P = P_;
  std::vector<const float*> rows;
  std::vector<float> in(static_cast<size_t>(kBlock) * (d + S)), y_hat(kBlock * S);
  std::vector<float> f(static_cast<size_t>(kBlock) * hidden), r2(kBlock * S);
  for (int p0 = lo; p0 < hi; p0 += kBlock) {
    const int p1 = std::min(hi, p0 + kBlock), n = p1 - p0;
    // LRP input: cat(transformer output, y_hat = symbols + means).
    for (int r = 0; r < n; ++r) {
      const size_t p = p0 + r;
      std::memcpy(&in[static_cast<size_t>(r) * (d + S)], &out_[p * d], d * sizeof(float));
      for (int c = 0; c < S; ++c) {
        const float v = static_cast<float>(sym[c * P + p]) + mean_[p * S + c];
        y_hat[r * S + c] = v;
        in[static_cast<size_t>(r) * (d + S) + d + c] = v;
      }
    }
    linear(m.lrp1, in.data(), n, f.data(), rows);
    gelu(f.data(), static_cast<size_t>(n) * hidden);
    linear(m.lrp2, f.data(), n, r2.data(), rows);
    for (int r = 0; r < n; ++r) {
      const size_t p = p0 + r;
      for (int c = 0; c < S; ++c) {
        float t = 0.5f * tanh_f(r2[r * S + c]);
        t = std::nearbyint(t * kGrid) / kGrid;
        const float v = y_hat[r * S + c] + t;
        prev_[p * S + c] = v;
        if (refined) refined[c * P + p] = v;
        if (codes) codes[c * P + p] = grid_code(v);
      }
    }
  }
}

}  // namespace lucid::codec::exact
