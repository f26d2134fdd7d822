#!/usr/bin/env bash
# Copies the web console's JavaScript libraries from npm into ui/vendor/.
#
# The versions are pinned by tools/ui-vendor/package-lock.json. To update a
# library: change its version in tools/ui-vendor/package.json, run
# `npm install --package-lock-only` there, then this script, and commit
# package.json, package-lock.json and ui/vendor/ together. strata embeds
# ui/ in its binary (src/api/ui.rs), so a rebuild picks the files up.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tools/ui-vendor"
dst="$root/ui/vendor"
(cd "$src" && npm ci --ignore-scripts --no-audit --no-fund)
mods="$src/node_modules"
mkdir -p "$dst"
cp "$mods/uplot/dist/uPlot.esm.js" "$dst/uPlot.esm.js"
cp "$mods/uplot/dist/uPlot.min.css" "$dst/uPlot.min.css"
cp "$mods/uplot/LICENSE" "$dst/uPlot.LICENSE"
version="$(node -p "require('$mods/uplot/package.json').version")"
printf 'uPlot %s (npm package uplot, MIT; see uPlot.LICENSE)\n' "$version" > "$dst/VERSIONS"
echo "ui/vendor: uPlot $version"
