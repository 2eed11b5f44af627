#!/usr/bin/env bash
# Runs every check and test of the project: formatting, go vet, and the
# whole test suite (unit, end-to-end and crash tests). This is the command
# the README gives and CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
	echo "these files need gofmt:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 -timeout 40m ./...
