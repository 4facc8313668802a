#!/usr/bin/env bash
# The quick start: install what is missing, build netdojo, and run the tour
# on a built-in scenario (first-lab unless one is named).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
export PATH="$PATH:/usr/local/go/bin"
go build -o bin/netdojo ./cmd/netdojo
exec ./bin/netdojo demo "$@"
