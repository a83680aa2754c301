#!/usr/bin/env bash
# Builds the artifacts-serve image: packs every published workspace package (pnpm pack turns
# workspace: ranges into versions), installs them with their production dependencies into the build
# context (pnpm, flat node_modules, from the store `pnpm install` already filled), then `docker
# build`s docker/serve/Dockerfile.
#   docker/serve/build.sh [TAG] [docker build options…]   e.g. --build-arg BASE=node:24-bookworm-slim
# Run after `pnpm install && pnpm build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-artifacts-serve}
shift || true
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp docker/serve/Dockerfile docker/serve/healthcheck.mjs "$ctx/"
mkdir -p "$ctx/pkgs" "$ctx/app"
for dir in packages/*/; do
  # private packages and the test kit are not part of the server
  if grep -q '"private": true' "$dir/package.json" || [ "$dir" = packages/testkit/ ]; then continue; fi
  (cd "$dir" && pnpm pack --pack-destination "$ctx/pkgs" >/dev/null)
done
# every packed package, and the same tarballs wherever one depends on another (overrides)
pnpm exec node -e '
const { execFileSync } = require("node:child_process");
const { readdirSync, writeFileSync } = require("node:fs");
const [pkgs, out] = process.argv.slice(1);
const deps = {};
for (const f of readdirSync(pkgs)) {
  const meta = JSON.parse(execFileSync("tar", ["-xzOf", `${pkgs}/${f}`, "package/package.json"], { encoding: "utf8" }));
  deps[meta.name] = `file:${pkgs}/${f}`;
}
writeFileSync(out, JSON.stringify({ private: true, dependencies: deps, pnpm: { overrides: deps } }, null, 2));
' "$ctx/pkgs" "$ctx/app/package.json"
(cd "$ctx/app" && pnpm install --prod --prefer-offline --ignore-scripts --config.node-linker=hoisted --config.confirmModulesPurge=false --reporter=silent)
rm -rf "$ctx/pkgs"
docker build --pull=false -t "$tag" "$@" "$ctx"
