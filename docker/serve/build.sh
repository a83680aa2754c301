#!/usr/bin/env bash
# Builds the artifacts-serve image: packs every published workspace package (pnpm pack turns
# workspace: ranges into versions), installs them with their production dependencies into the build
# context with npm, then `docker build`s docker/serve/Dockerfile.
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
echo '{"private":true}' >"$ctx/app/package.json"
(cd "$ctx/app" && npm install --omit=dev --no-audit --no-fund --ignore-scripts --loglevel=error "$ctx"/pkgs/*.tgz)
rm -rf "$ctx/pkgs"
docker build --pull=false -t "$tag" "$@" "$ctx"
