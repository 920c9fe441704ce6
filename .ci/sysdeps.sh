#!/usr/bin/env bash
# Install the Debian packages kjflow needs, only those missing.
#   docs: what rendering documents needs (HarfBuzz subsetting, CJK fonts, Pango)
#   all:  docs + what the test tiers need (chromium, poppler, Redis, PostgreSQL and its
#         client programs pg_dump/pg_restore, which `flask backup`/`restore` run)
set -euo pipefail
what="${1:-all}"

docs=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-wqy-microhei fonts-noto-cjk
      fonts-arphic-uming)
tests=(chromium poppler-utils redis-server postgresql graphviz)
pkgs=("${docs[@]}")
[ "$what" = all ] && pkgs+=("${tests[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
# pg_dump and pg_restore come with any postgresql-client-NN; the unversioned package only
# when none is there.
if [ "$what" = all ] && ! { command -v pg_dump && command -v pg_restore; } >/dev/null; then
  missing+=(postgresql-client)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "kjflow: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The free 仿宋/小标宋/黑体/楷体 faces of official documents (workflow/config.py FONT_*):
# the Fandol fonts, which cover GB 2312. Debian ships them only inside texlive-lang-chinese
# (49 MB, and installing it pulls in TeX Live): its .deb is unpacked in a scratch folder
# and only the four .otf files are kept.
fandol=/usr/local/share/fonts/fandol
fandol_files=(FandolFang-Regular.otf FandolSong-Bold.otf FandolHei-Regular.otf FandolKai-Regular.otf)
need_fandol=0
for f in "${fandol_files[@]}"; do [ -f "$fandol/$f" ] || need_fandol=1; done
if [ "$need_fandol" = 1 ]; then
  echo "kjflow: installing the Fandol fonts into $fandol"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  scratch="$(mktemp -d)" && chmod 755 "$scratch"  # apt-get download runs as _apt
  trap 'rm -rf "$scratch" "${converted:-}"' EXIT
  (cd "$scratch" && apt-get download texlive-lang-chinese >/dev/null) || {
    $SUDO apt-get update -qq && (cd "$scratch" && apt-get download texlive-lang-chinese >/dev/null); }
  dpkg-deb -x "$scratch"/texlive-lang-chinese_*.deb "$scratch/x"
  $SUDO mkdir -p "$fandol"
  for f in "${fandol_files[@]}"; do
    $SUDO install -m 0644 "$scratch/x/usr/share/texlive/texmf-dist/fonts/opentype/public/fandol/$f" "$fandol/"
  done
  $SUDO fc-cache "$fandol"
fi

# The same faces as TrueType ("FandolFang TT", …: the default faces), converted once from
# the .otf files by .ci/fandol_ttf.py: the fonts of an issued 立项通知书 take 67 KB with
# them against 95 KB with the CFF originals, looking the same. The conversion needs fontTools,
# from the project's virtualenv (`make` builds it before this runs) or the system Python.
need_ttf=()
for f in "${fandol_files[@]}"; do [ -f "$fandol/${f%.otf}.ttf" ] || need_ttf+=("$f"); done
if [ ${#need_ttf[@]} -gt 0 ]; then
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  py="$root/.venv/bin/python"
  [ -x "$py" ] || py=python3
  "$py" -c "import fontTools" 2>/dev/null || {
    echo "kjflow: fontTools is needed to convert the Fandol fonts: run 'make venv' first" >&2; exit 1; }
  echo "kjflow: converting ${need_ttf[*]} to TrueType (about 20 s each)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  converted="$(mktemp -d)"
  trap 'rm -rf "${scratch:-}" "$converted"' EXIT
  for f in "${need_ttf[@]}"; do
    "$py" "$root/.ci/fandol_ttf.py" "$fandol/$f" "$converted/${f%.otf}.ttf"
    $SUDO install -m 0644 "$converted/${f%.otf}.ttf" "$fandol/"
  done
  $SUDO fc-cache "$fandol"
fi

# Fail loudly rather than render documents 100x slower or with missing glyphs.
# (grep reads all its input: with -q it would stop early, and under pipefail the writer's
# SIGPIPE would fail the check at random.)
ldconfig -p | grep libharfbuzz-subset.so.0 >/dev/null || { echo "kjflow: libharfbuzz-subset0 missing" >&2; exit 1; }
fc-list :lang=zh | grep . >/dev/null || { echo "kjflow: no CJK font installed" >&2; exit 1; }
for family in FandolFang FandolSong FandolHei FandolKai "FandolFang TT" "FandolSong TT" \
              "FandolHei TT" "FandolKai TT"; do
  fc-list "$family" family | grep . >/dev/null || { echo "kjflow: font $family missing" >&2; exit 1; }
done
