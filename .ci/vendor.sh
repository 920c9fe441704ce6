#!/usr/bin/env bash
# Vendor the front-end libraries from the npm registry at pinned versions, checked against
# the registry's sha512 integrity, into templates/static/vendor/ (committed: a bureau's
# intranet has no CDN and the product serves them itself). Run by `make vendor`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=templates/static/vendor
# name version integrity files-to-keep (paths inside the package)
packages=(
  "bootstrap 5.3.9 sha512-20cU0rcfw8WdxtVbmfU+xT2EjvVTw9Ror/h1Qvd7DXCujRg8OO9mdBCsmTHdJFf3BuadmBNJtgIuUXsBqSkk/w== dist/css/bootstrap.min.css dist/js/bootstrap.bundle.min.js LICENSE"
  "htmx.org 2.0.11 sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA== dist/htmx.min.js LICENSE"
  "echarts 5.6.0 sha512-oTbVTsXfKuEhxftHqL5xprgLoc0k7uScAwtryCgWF6hPYFLRwOUHiFmHGCBKP5NPFNkDVopOieyUqYGH8Fa3kA== dist/echarts.min.js LICENSE NOTICE"
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for entry in "${packages[@]}"; do
  read -r name version integrity files <<<"$entry"
  base=${name%.org}
  tarball="$tmp/$base.tgz"
  curl -fsSL -o "$tarball" "https://registry.npmjs.org/$name/-/$name-$version.tgz"
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "kjflow: $name $version does not match its integrity ($got)" >&2; exit 1
  fi
  rm -rf "${out:?}/$base"; mkdir -p "$out/$base"
  tar -xzf "$tarball" -C "$tmp"
  for f in $files; do cp "$tmp/package/$f" "$out/$base/"; done
  echo "$name $version $integrity" > "$out/$base/VERSION"
  rm -rf "$tmp/package"
done
echo "kjflow: vendored into $out: $(ls "$out" | tr '\n' ' ')"
