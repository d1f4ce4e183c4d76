#!/usr/bin/env bash
# Extracts the photographs listed in data_scripts/debian_photos.txt from their Debian packages
# and turns them into training PNGs (data_scripts/downscale.py: the recipe of
# ../shared/data/SOURCES.md).
#   data_scripts/debian_photos.sh OUTDIR LISTDIR
# Writes OUTDIR/<package>/<name>.png and OUTDIR/provenance.tsv, and appends the absolute path of
# each PNG to LISTDIR/train.txt, LISTDIR/val.txt or LISTDIR/test.txt as its split in the list says
# (split test: the held-out test photographs, from packages that give no train or val photo; they
# never go to train.txt or val.txt).
# Packages come from the configured apt sources (apt-get download + dpkg -x; no other network),
# at the version the list pins, else apt's candidate (with a note). Outputs whose provenance
# record and content still match are reused without downloading; DEBIAN_PHOTOS_REBUILD=1
# re-derives them all (unchanged bytes are left in place). Needs Debian's /usr/bin/python3 with
# python3-pil (installed with apt-get when run as root). Exit status 1 when no photo could be
# made, for example when apt-get download fails for every package; partial failures warn.
set -euo pipefail
prog=debian_photos.sh
here="$(cd "$(dirname "$0")" && pwd)"
list="$here/debian_photos.txt"
helper="$here/downscale.py"
py=/usr/bin/python3

die() { echo "error: $prog: $*" >&2; exit 1; }
warn() { echo "warning: $prog: $*" >&2; }
note() { echo "note: $prog: $*" >&2; }

if [ $# -ne 2 ]; then
  echo "usage: $prog OUTDIR LISTDIR  (photos go to OUTDIR/<package>/, paths are appended to LISTDIR/{train,val,test}.txt)" >&2
  exit 2
fi
mkdir -p "$1" "$2" || die "cannot create '$1' or '$2'"
outdir="$(cd "$1" && pwd)"
listdir="$(cd "$2" && pwd)"
[ -r "$list" ] || die "$list: cannot read the photo list"
for tool in apt-get apt-cache dpkg dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || die "$tool: not found (this script needs Debian's apt and dpkg)"
done

# Debian's Python and Pillow pin the decoder and resampler, so the PNGs are the same everywhere.
if ! { [ -x "$py" ] && "$py" -c 'import PIL.Image' 2>/dev/null; }; then
  if [ "$(id -u)" = 0 ]; then
    note "installing python3-pil (Debian's Pillow for $py)"
    apt-get install -y python3-pil >&2 ||
      die "apt-get install -y python3-pil failed (run apt-get update first?)"
    "$py" -c 'import PIL.Image' || die "$py still cannot import PIL after installing python3-pil"
  else
    die "$py cannot import PIL: install Debian's Pillow as root: apt-get install -y python3-pil"
  fi
fi
recipe="$("$py" "$helper" --recipe)" || die "$helper --recipe failed"

# ---- the list: package version path split name mode -------------------------------------------
e_pkg=() e_ver=() e_path=() e_split=() e_name=() e_mode=()
pkgs=()
declare -A pkg_ver=() pkg_kind=() seen=()
n=0
while read -r pkg ver path split name mode extra; do
  n=$((n + 1))
  case "$pkg" in ''|'#'*) continue ;; esac
  where="$list:$n"
  [ -n "$mode" ] && [ -z "$extra" ] || die "$where: expected 6 columns: package version path split name mode"
  [[ "$pkg" =~ ^[a-z0-9][a-z0-9.+-]+$ ]] || die "$where: bad package name '$pkg'"
  [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || die "$where: bad output name '$name'"
  case "$path" in /*|*..*) die "$where: path must be relative to the package root: '$path'" ;; esac
  case "$split" in train|val|test) ;; *) die "$where: split must be train, val or test, not '$split'" ;; esac
  case "$mode" in downscale|copy) ;; *) die "$where: mode must be downscale or copy, not '$mode'" ;; esac
  [ -z "${seen[$pkg/$name]:-}" ] || die "$where: $pkg/$name is listed twice"
  # A package gives test photos or train/val photos, never both (the test set is held out by source).
  kind=trainval
  [ "$split" != test ] || kind=test
  [ -z "${pkg_kind[$pkg]:-}" ] || [ "${pkg_kind[$pkg]}" = "$kind" ] ||
    die "$where: $pkg gives both test and train/val photos (a test package must give only test photos)"
  pkg_kind[$pkg]=$kind
  seen[$pkg/$name]=1
  if [ -z "${pkg_ver[$pkg]:-}" ]; then
    pkg_ver[$pkg]="$ver"
    pkgs+=("$pkg")
  elif [ "${pkg_ver[$pkg]}" != "$ver" ]; then
    die "$where: $pkg is pinned to both ${pkg_ver[$pkg]} and $ver"
  fi
  e_pkg+=("$pkg") e_ver+=("$ver") e_path+=("$path") e_split+=("$split") e_name+=("$name") e_mode+=("$mode")
done < "$list"
total=${#e_pkg[@]}
[ "$total" -gt 0 ] || die "$list: lists no photographs"

# ---- provenance of earlier runs: reuse what still matches --------------------------------------
# Columns: package version path name mode split src_WxH WxH src_sha256 recipe sha256
prov="$outdir/provenance.tsv"
declare -A prev=()
if [ -f "$prov" ]; then
  while IFS=$'\t' read -r pkg ver path name mode split swh wh ssha rec sha; do
    [ "$pkg" = package ] || prev["$pkg|$ver|$path|$name|$mode|$rec"]="$swh	$wh	$ssha	$sha"
  done < "$prov"
fi

# The version to download: the pinned one when apt has it, else the candidate.
resolve_version() {
  local pkg="$1" pinned="$2" cand
  # (apt-cache show exits 0 even for an unknown version: look for the version line)
  if [ "$pinned" != - ] &&
     LC_ALL=C apt-cache show "$pkg=$pinned" 2>/dev/null | grep -xF "Version: $pinned" >/dev/null; then
    echo "$pinned"
    return
  fi
  cand="$(LC_ALL=C apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')"
  if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
    [ "$pinned" = - ] || note "$pkg $pinned is not available from apt; using the candidate $cand"
    echo "$cand"
  else
    echo "$pinned"  # unknown to apt: only earlier outputs made from it can be used
  fi
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/debian_photos.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
declare -A rec=()  # entry index -> "src_WxH WxH src_sha256 sha256" (tab separated)
attempted=0 failed=0 reused=0 written=0 unchanged=0
for pkg in "${pkgs[@]}"; do
  ver="$(resolve_version "$pkg" "${pkg_ver[$pkg]}")"
  need=()
  for ((i = 0; i < total; i++)); do
    [ "${e_pkg[$i]}" = "$pkg" ] || continue
    png="$outdir/$pkg/${e_name[$i]}.png"
    old="${prev["$pkg|$ver|${e_path[$i]}|${e_name[$i]}|${e_mode[$i]}|$recipe"]:-}"
    if [ "${DEBIAN_PHOTOS_REBUILD:-0}" != 1 ] && [ -n "$old" ] && [ -f "$png" ] &&
       [ "$(sha256sum "$png" | cut -d' ' -f1)" = "${old##*	}" ]; then
      rec[$i]="$old"
      e_ver[i]="$ver"
      reused=$((reused + 1))
    else
      need+=("$i")
    fi
  done
  [ ${#need[@]} -gt 0 ] || continue

  attempted=$((attempted + 1))
  work="$tmp/$pkg"
  mkdir -p "$work/deb" "$work/root"
  # apt drops privileges to _apt for downloads; let it write here.
  if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$work/deb"; fi
  spec="$pkg"
  [ "$ver" = - ] || spec="$pkg=$ver"
  if ! (cd "$work/deb" && LC_ALL=C apt-get download "$spec") > "$work/apt.log" 2>&1; then
    sed 's/^/  /' "$work/apt.log" >&2
    warn "apt-get download $spec failed; skipping its ${#need[@]} photo(s)"
    failed=$((failed + 1))
    rm -rf "$work"
    continue
  fi
  debs=("$work/deb"/*.deb)
  [ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || die "apt-get download $spec did not leave exactly one .deb"
  got="$(dpkg-deb -f "${debs[0]}" Version)"
  if [ "$ver" != "$got" ]; then
    [ "$ver" = - ] || note "$pkg: apt-get download gave version $got, not $ver"
    ver="$got"
  fi
  if ! dpkg -x "${debs[0]}" "$work/root"; then
    warn "dpkg -x $(basename "${debs[0]}") failed; skipping its ${#need[@]} photo(s)"
    failed=$((failed + 1))
    rm -rf "$work"
    continue
  fi
  mkdir -p "$outdir/$pkg"
  for i in "${need[@]}"; do
    src="$work/root/${e_path[$i]}"
    if [ ! -f "$src" ]; then
      warn "$pkg $ver has no ${e_path[$i]}; skipping ${e_name[$i]}"
      continue
    fi
    if ! out="$("$py" "$helper" "${e_mode[$i]}" "$src" "$outdir/$pkg/${e_name[$i]}.png")"; then
      warn "could not make $pkg/${e_name[$i]}.png (above); skipping it"
      continue
    fi
    IFS=$'\t' read -r status swh wh ssha sha <<< "$out"
    case "$status" in written) written=$((written + 1)) ;; *) unchanged=$((unchanged + 1)) ;; esac
    rec[$i]="$swh	$wh	$ssha	$sha"
    e_ver[i]="$ver"  # the version actually used, for the provenance record
  done
  rm -rf "$work"
done

# ---- outputs: provenance, then the lists in list order -----------------------------------------
made=${#rec[@]}
if [ "$made" -eq 0 ]; then
  if [ "$attempted" -gt 0 ] && [ "$failed" -eq "$attempted" ]; then
    die "apt-get download failed for every package in $list; check the Debian apt sources (apt-get update), or build without these photos (build_dataset.sh --no-debian)"
  fi
  die "no Debian photograph could be made (see the warnings above)"
fi
{
  printf 'package\tversion\tpath\tname\tmode\tsplit\tsrc_size\tsize\tsrc_sha256\trecipe\tsha256\n'
  for ((i = 0; i < total; i++)); do
    [ -n "${rec[$i]:-}" ] || continue
    IFS=$'\t' read -r swh wh ssha sha <<< "${rec[$i]}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${e_pkg[$i]}" "${e_ver[$i]}" \
      "${e_path[$i]}" "${e_name[$i]}" "${e_mode[$i]}" "${e_split[$i]}" "$swh" "$wh" "$ssha" "$recipe" "$sha"
  done
} > "$prov.tmp"
mv -f "$prov.tmp" "$prov"
ntrain=0 nval=0 ntest=0
for ((i = 0; i < total; i++)); do
  [ -n "${rec[$i]:-}" ] || continue
  echo "$outdir/${e_pkg[$i]}/${e_name[$i]}.png" >> "$listdir/${e_split[$i]}.txt"
  case "${e_split[$i]}" in
    train) ntrain=$((ntrain + 1)) ;;
    val) nval=$((nval + 1)) ;;
    *) ntest=$((ntest + 1)) ;;
  esac
done
[ "$failed" -eq 0 ] || warn "apt-get download failed for $failed of $attempted package(s)"
[ "$made" -eq "$total" ] || warn "only $made of the $total listed Debian photographs were made"
echo "debian photos: $made ($ntrain train, $nval val, $ntest test) in $outdir: $written written, $unchanged unchanged, $reused reused" >&2
