#!/usr/bin/env bash
# The README's main command: log a sample run directory into the embedded default store
# (./mlartifacts), list it, download it back and check that every byte came back.
# Run from the repository root after `pnpm install && pnpm build`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f packages/cli/dist/bin.js ]; then
  echo "demo: packages/cli/dist/bin.js is missing; run 'pnpm build' first" >&2
  exit 1
fi

step() {
  echo "\$ $*"
  "$@"
}

run_uri=./mlartifacts/0/demo-run/artifacts
# Start clean: rm is idempotent, so a first run (nothing there) succeeds too.
step pnpm -s artifacts rm ./mlartifacts/0/demo-run
step pnpm -s artifacts log examples/sample-run "$run_uri"
step pnpm -s artifacts ls -r -l "$run_uri"
rm -rf ./sample-out
step pnpm -s artifacts download "$run_uri" ./sample-out
step diff -r examples/sample-run ./sample-out/artifacts
echo "demo: OK, ./sample-out/artifacts matches examples/sample-run byte for byte"
