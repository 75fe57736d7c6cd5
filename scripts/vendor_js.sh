#!/usr/bin/env bash
# Reinstall the jobs page's third-party JavaScript from the npm registry (versions pinned
# exactly in ui/jobs/package.json and package-lock.json) and copy the dist files the page
# loads, with their licences, into src/corral/frameworks/jobs/page/vendor/.
#
#   bash scripts/vendor_js.sh            # npm ci (or npm install the first time), then copy
#
# The copied files are committed, so the page works on machines without npm; the framework
# serves them itself (never a CDN).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ui="$root/ui/jobs"
out="$root/src/corral/frameworks/jobs/page/vendor"
cd "$ui"
if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund --ignore-scripts
else
  npm install --no-audit --no-fund --ignore-scripts --save-exact
fi
mkdir -p "$out"
dagre="$ui/node_modules/@dagrejs/dagre"
graphlib="$ui/node_modules/@dagrejs/graphlib"
# dagre.min.js is a self-contained browser bundle (global `dagre`) with graphlib inside.
cp "$dagre/dist/dagre.min.js" "$out/dagre.min.js"
cp "$dagre/LICENSE" "$out/dagre.LICENSE"
cp "$graphlib/LICENSE" "$out/graphlib.LICENSE"
node -e '
  const p = (n) => require(process.argv[1] + "/node_modules/" + n + "/package.json");
  const d = p("@dagrejs/dagre"), g = p("@dagrejs/graphlib");
  console.log(JSON.stringify({
    "@dagrejs/dagre": {version: d.version, license: d.license, file: "dagre.min.js"},
    "@dagrejs/graphlib": {version: g.version, license: g.license, bundledIn: "dagre.min.js"}
  }, null, 2));
' "$ui" > "$out/VERSIONS.json"
echo "vendored into $out:"
ls -l "$out"
