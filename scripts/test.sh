#!/usr/bin/env bash
# Runs every check and test of the project: formatting, go vet, the whole
# test suite on the embedded backends (SQLite, a blob directory), then the
# backend-dependent tests again on a real PostgreSQL and a real
# S3-compatible server (versitygw), which this script starts on loopback
# and removes afterwards, and finally the Go benchmarks with a short
# -benchtime so that they cannot rot. This is the command the README gives
# and CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
	echo "these files need gofmt:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test (SQLite, blob directory)"
go test -count=1 -timeout 30m ./...

# ---- real PostgreSQL and S3-compatible servers, on loopback ----
work=$(mktemp -d /tmp/vouch-test.XXXXXX)
chmod 755 "$work"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
pgpid="" s3pid=""
cleanup() {
	if [ -n "$pgbin" ] && [ -f "$work/pg/data/postmaster.pid" ]; then
		as_pg "$pgbin/pg_ctl -D $work/pg/data -m immediate -w stop" >/dev/null 2>&1 || true
	fi
	[ -n "$s3pid" ] && kill "$s3pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
as_pg() {
	if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$1"; else bash -c "$1"; fi
}
# free_port prints a loopback port nothing listens on.
free_port() {
	while :; do
		p=$((20000 + RANDOM % 40000))
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

if [ -z "$pgbin" ]; then
	echo "PostgreSQL server binaries not found (apt-get install postgresql)"; exit 1
fi
echo "== starting PostgreSQL ($pgbin)"
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$work/pg"
as_pg "$pgbin/initdb -D $work/pg/data -U postgres --auth=trust -E UTF8 --no-locale >$work/pg/initdb.log 2>&1"
started=""
for attempt in 1 2 3; do
	pgport=$(free_port)
	if as_pg "$pgbin/pg_ctl -D $work/pg/data -l $work/pg/server.log -w -t 60 -o '-c listen_addresses=127.0.0.1 -p $pgport -k $work/pg -c max_connections=300' start >/dev/null"; then
		started=1
		break
	fi
	echo "PostgreSQL did not start (attempt $attempt):"; tail -n 20 "$work/pg/server.log" || true
done
[ -n "$started" ] || exit 1

echo "== starting versitygw (S3)"
gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/versitygw" ]; then
	echo "   installing versitygw (a few minutes, once)"
	GOBIN="$gobin" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
mkdir -p "$work/s3"
s3port=$(free_port)
"$gobin/versitygw" --access vouchtest --secret vouchtestsecret --port "127.0.0.1:$s3port" posix "$work/s3" >"$work/s3.log" 2>&1 &
s3pid=$!
for _ in $(seq 1 100); do
	curl -s -o /dev/null "http://127.0.0.1:$s3port/" && break
	sleep 0.1
done

export VOUCH_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"
export VOUCH_TEST_S3="s3://vouch-test?endpoint=127.0.0.1:$s3port&secure=false&region=us-east-1"
export AWS_ACCESS_KEY_ID=vouchtest AWS_SECRET_ACCESS_KEY=vouchtestsecret
export VOUCH_TEST_REQUIRE_BACKENDS=1

echo "== go test (PostgreSQL, S3)"
go test -count=1 -timeout 30m ./blob/... ./store/... ./server/... ./internal/...

echo "== go test -bench (short, so the benchmarks cannot rot)"
go test -count=1 -run '^$' -bench . -benchtime 200x ./... >"$work/bench.log" 2>&1 || { cat "$work/bench.log"; exit 1; }
grep -E '^(Benchmark|ok|FAIL)' "$work/bench.log" || true

echo "== all tests passed"
