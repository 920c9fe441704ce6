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

# Fail loudly rather than render documents 100x slower or with missing glyphs.
# (grep reads all its input: with -q it would stop early, and under pipefail the writer's
# SIGPIPE would fail the check at random.)
ldconfig -p | grep libharfbuzz-subset.so.0 >/dev/null || { echo "kjflow: libharfbuzz-subset0 missing" >&2; exit 1; }
fc-list :lang=zh | grep . >/dev/null || { echo "kjflow: no CJK font installed" >&2; exit 1; }
