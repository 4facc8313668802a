#!/usr/bin/env bash
# Every test: install what is missing, then unit and root tests (labs in
# their own namespaces), a short fuzz of the scenario loader, and
# `netdojo verify --all --adversarial`: every built-in scenario proved solvable
# and not passed by any entry of the adversarial catalogue.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
export PATH="$PATH:/usr/local/go/bin"

go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on: $unformatted" >&2
	exit 1
fi
go test -count=1 -timeout 30m ./...
# The fuzz target fails an input that makes Load allocate over 64 MiB and
# bounds its own heap; ulimit -d (each process's heap) bounds the rest, so
# a blow-up fails the run instead of taking the machine.
(ulimit -d 4194304 && go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime "${FUZZTIME:-20s}" ./scenarios)
go build -o bin/netdojo ./cmd/netdojo
./bin/netdojo verify --all --adversarial --parallel 2 --junit bin/verify-junit.xml
./bin/netdojo verify --drills --junit bin/verify-drills-junit.xml
