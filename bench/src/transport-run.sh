#!/usr/bin/env bash
# Scratch runner for bench/src/transport.ts (issue 11, engineer "undici"): every case in its own
# process, transports rotated per run, a `sync` before each, load printed with each line.
# Usage: [BASE_CORE=…/dist/index.js] [NEW_CORE=…/dist/index.js] bench/src/transport-run.sh RUNS CASE T1,T2,...
set -euo pipefail
cd "$(dirname "$0")/../.."
. integration/.servers.env
runs=$1 kind=$2
IFS=, read -r -a transports <<<"$3"
n=${#transports[@]}
for ((run = 0; run < runs; run++)); do
  for ((i = 0; i < n; i++)); do
    t=${transports[$(((i + run) % n))]}
    sync
    line=$(node_modules/.bin/tsx bench/src/transport.ts "$kind" "$t")
    echo "$line {\"load\":$(cut -d' ' -f1 /proc/loadavg),\"run\":$((run + 1))}"
  done
done
