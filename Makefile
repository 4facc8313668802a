# Developer shortcuts; the README's two commands are scripts/demo.sh and
# scripts/test.sh, which also install what is missing.
GO ?= go

.PHONY: build demo test bench fuzz docs clean

build:
	$(GO) build -o bin/netdojo ./cmd/netdojo

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

bench:
	$(GO) test -run '^$$' -bench . -benchtime 5x ./sandbox/

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 5m ./scenarios

docs:
	$(GO) test ./scenarios/ -run 'TestSchema|TestReference' -update
	$(GO) test ./cmd/netdojo/ -run TestGeneratedDocs -update

clean:
	rm -rf bin
