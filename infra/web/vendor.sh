#!/usr/bin/env sh
# Copy the pinned front-end libraries (package.json, package-lock.json) and their licences
# into service/web/static/vendor/. The copies are committed, so the app and `make demo` work
# offline; run this (`make vendor`) only to change a version.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../service/web/static/vendor"
cd "$here"
npm ci --silent --no-audit --no-fund
mkdir -p "$out"
nm="$here/node_modules"
cp "$nm/htmx.org/dist/htmx.min.js" "$out/htmx.min.js"
cp "$nm/htmx.org/LICENSE" "$out/htmx.LICENSE"
cp "$nm/axe-core/axe.min.js" "$out/axe.min.js"
cp "$nm/axe-core/LICENSE" "$out/axe-core.LICENSE"
cp "$nm/chart.js/dist/chart.umd.min.js" "$out/chart.umd.min.js"
cp "$nm/chart.js/LICENSE.md" "$out/chart.js.LICENSE.md"
cp "$nm/@simplewebauthn/browser/dist/bundle/index.umd.min.js" "$out/simplewebauthn-browser.umd.min.js"
cp "$nm/@simplewebauthn/browser/LICENSE.md" "$out/simplewebauthn-browser.LICENSE.md"
# Chart.js bundles @kurkle/color into its UMD file.
cp "$nm/@kurkle/color/LICENSE.md" "$out/kurkle-color.LICENSE.md"
{
  echo "Vendored from npm by infra/web/vendor.sh (versions pinned in infra/web/package.json):"
  for pkg in htmx.org axe-core chart.js @kurkle/color @simplewebauthn/browser; do
    printf '%s %s\n' "$pkg" "$(node -p "require('$nm/$pkg/package.json').version")"
  done
} > "$out/VERSIONS.txt"
echo "vendored into $out"
