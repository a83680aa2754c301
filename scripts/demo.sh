#!/usr/bin/env bash
# The README's main command: start the artifact proxy on the embedded default store (./mlartifacts),
# then use it with the CLI through mlflow-artifacts: URIs, as an MLflow client would: log a sample
# run directory, list it, download it back and check that every byte came back.
# Run from the repository root after `pnpm install && pnpm build`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f packages/cli/dist/bin.js ] || [ ! -f packages/server/dist/index.js ]; then
  echo "demo: the packages are not built; run 'pnpm build' first" >&2
  exit 1
fi

step() {
  echo "\$ $*"
  "$@"
}

# ARTIFACTS_DEMO_URL: use a server that already runs (e.g. the artifacts-serve container, .ci/run)
# instead of starting one; ARTIFACTS_DEMO_DESTINATION: its destination directory (default ./mlartifacts).
dest=${ARTIFACTS_DEMO_DESTINATION:-./mlartifacts}
if [ -n "${ARTIFACTS_DEMO_URL:-}" ]; then
  url=$ARTIFACTS_DEMO_URL
  echo "demo: using the server at $url"
else
# Port 0: the server picks a free port and prints it; the demo reads it from the server's log.
log=$(mktemp)
# The server runs as node itself, not under a pnpm wrapper: $! is then the process that handles the
# signal (a wrapper started in the background of a non-interactive shell ignores SIGINT, and waiting
# for it would never end). Node comes from the workspace (`pnpm exec`), as `pnpm artifacts` uses it.
node_bin=$(pnpm exec node -p process.execPath)
stop_server() {
  kill -TERM "$server" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -f "$log"
}
# Its JSON access log goes to ./mlartifacts-access.log.
"$node_bin" packages/cli/dist/bin.js serve --artifacts-destination ./mlartifacts --port 0 --allow-unauthenticated >mlartifacts-access.log 2>"$log" &
server=$!
trap stop_server EXIT
for _ in $(seq 1 120); do
  url=$(sed -n 's/.*listening on \(http[^,]*\),.*/\1/p' "$log")
  [ -n "$url" ] && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done
[ -n "$url" ] || { echo "demo: the server did not start" >&2; cat "$log" >&2; exit 1; }
echo "demo: $(cat "$log")"
fi
export MLFLOW_TRACKING_URI=$url

run_uri=mlflow-artifacts:/0/demo-run/artifacts
# Start clean: rm is idempotent, so a first run (nothing there) succeeds too.
step pnpm -s artifacts rm mlflow-artifacts:/0/demo-run
step pnpm -s artifacts log examples/sample-run "$run_uri"
step pnpm -s artifacts ls -r -l "$run_uri"
rm -rf ./sample-out
step pnpm -s artifacts download "$run_uri" ./sample-out
step diff -r examples/sample-run ./sample-out/artifacts
step diff -r examples/sample-run "$dest/0/demo-run/artifacts"
echo "demo: OK, through the server: ./sample-out/artifacts and $dest/0/demo-run/artifacts match examples/sample-run byte for byte"
