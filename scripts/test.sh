#!/usr/bin/env bash
# Runs every check and test of the project: formatting, go mod tidy, go vet,
# cross-builds of the CLI, the whole test suite (the pages' tests in a real
# Chromium, installed when missing) and every Go benchmark (with
# a short -benchtime, so that they cannot rot) on the embedded backends
# (SQLite, a blob directory), the backend-dependent tests again on a real
# PostgreSQL and a real S3-compatible server (versitygw), which this script
# starts on loopback and removes afterwards, and staticcheck (its findings
# are printed, not yet fatal). This is the command the README gives and CI
# runs.
#
# It is written for a 2-core machine. The one-time work (building versitygw
# and staticcheck when they are missing) and starting PostgreSQL begin at
# once in the background, the cross-builds too, at a lower priority; the
# PostgreSQL/S3 tests run beside the SQLite ones as soon as their servers
# are up. Every step says when it starts and ends, long ones say every 30s
# what is still running, and test output is prefixed with its suite. Any
# failure, in the foreground or the background, fails the script; a
# background step's output is printed when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

versitygw_version=v1.8.0
staticcheck_version=v0.8.2 # staticcheck 2026.2.2, the newest; builds with Go 1.26
# linux/amd64 last: it shares most of its compiled packages with the tests.
cross_targets="darwin/arm64 windows/amd64 linux/amd64"

exec 3>&1 # the terminal, for progress lines from jobs whose output is logged
t0=$SECONDS
say() { printf '[%2d:%02d] %s\n' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)) "$*" >&3; }
# prefixed TAG: copies its input to the terminal, each line after TAG.
prefixed() { sed -u "s/^/$1 /" >&3; }

work=$(mktemp -d /tmp/vouch-test.XXXXXX)
chmod 755 "$work"
gobin=$(go env GOPATH)/bin
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ]; then
	echo "PostgreSQL server binaries not found (apt-get install postgresql)"; exit 1
fi

# ---- background jobs ----
# bg ID DESCRIPTION COMMAND...: runs COMMAND in the background, its output
# in $work/ID.log; says when it ends; its exit status lands in $work/ID.rc.
# COMMAND runs without set -e (it is the left side of ||): the shell
# functions given to bg and step return their failures explicitly.
declare -A job_pid job_desc
bg() {
	local id=$1 desc=$2; shift 2
	(
		start=$SECONDS rc=0
		"$@" >"$work/$id.log" 2>&1 || rc=$?
		echo "$rc" >"$work/$id.rc"
		if [ "$rc" = 0 ]; then
			say "   done: $desc ($((SECONDS - start))s)"
		else
			say "   FAILED: $desc (exit $rc, $((SECONDS - start))s)"
		fi
		exit "$rc"
	) &
	job_pid[$id]=$!
	job_desc[$id]=$desc
}
# await ID: waits for job ID to end; returns non-zero, with its output, if
# it failed. It goes by the exit status the job writes, so that other jobs
# can await it too.
await() {
	local id=$1 pid=${job_pid[$1]:-}
	[ -n "$pid" ] || return 0
	while [ ! -f "$work/$id.rc" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
	if [ "$(cat "$work/$id.rc" 2>/dev/null)" != 0 ]; then
		echo "FAILED: ${job_desc[$id]}"
		if [ -s "$work/$id.log" ]; then
			echo "---- output of: ${job_desc[$id]}"
			cat "$work/$id.log"
			echo "----"
		fi
		return 1
	fi
}
# collect ID: awaits job ID, and fails the script if it failed.
collect() {
	await "$1" || exit 1
	unset "job_pid[$1]"
}
# check_jobs: fails early if a background job has already failed.
check_jobs() {
	local id
	for id in "${!job_pid[@]}"; do
		if [ -f "$work/$id.rc" ] && [ "$(cat "$work/$id.rc")" != 0 ]; then
			collect "$id"
		fi
	done
}
running_jobs() {
	local id out=""
	for id in "${!job_pid[@]}"; do
		[ -f "$work/$id.rc" ] || out="$out, ${job_desc[$id]}"
	done
	echo "${out#, }"
}
# step DESCRIPTION COMMAND...: runs COMMAND in the foreground, saying every
# 30s that it still runs, and what runs in the background.
step() {
	local desc=$1 rc=0 start=$SECONDS; shift
	check_jobs
	say "== $desc"
	(
		while sleep 30; do
			bgs=$(running_jobs)
			say "   ... still: $desc${bgs:+; in the background: $bgs}"
		done
	) &
	heartbeat=$!
	"$@" || rc=$?
	kill "$heartbeat" 2>/dev/null; wait "$heartbeat" 2>/dev/null || true
	heartbeat=""
	if [ "$rc" != 0 ]; then
		say "FAILED: $desc (exit $rc)"
		exit "$rc"
	fi
	say "   ok: $desc ($((SECONDS - start))s)"
}
# niced COMMAND...: runs COMMAND (a shell function too) at a lower
# priority, so that it takes the CPU the tests leave.
niced() {
	renice -n 10 -p "$BASHPID" >/dev/null
	"$@"
}

# ---- PostgreSQL and versitygw, on loopback ----
heartbeat=""
# kill_tree PID: ends PID and its descendants, PID first, so that a job's
# wrapper does not report its own interrupted command as a failure.
kill_tree() {
	local c children
	children=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
	kill "$1" 2>/dev/null || true
	for c in $children; do kill_tree "$c"; done
}
cleanup() {
	local id
	if [ -n "$heartbeat" ]; then kill "$heartbeat" 2>/dev/null || true; fi
	for id in "${!job_pid[@]}"; do kill_tree "${job_pid[$id]}"; done
	if [ -f "$work/pg/data/postmaster.pid" ]; then
		as_pg "$pgbin/pg_ctl -D $work/pg/data -m immediate -w stop" >/dev/null 2>&1 || true
	fi
	if [ -f "$work/s3.pid" ]; then kill "$(cat "$work/s3.pid")" 2>/dev/null || true; fi
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
start_postgres() {
	mkdir -p "$work/pg" || return 1
	if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$work/pg" || return 1; fi
	as_pg "$pgbin/initdb -D $work/pg/data -U postgres --auth=trust -E UTF8 --no-locale" || return 1
	local attempt port
	for attempt in 1 2 3; do
		port=$(free_port)
		if as_pg "$pgbin/pg_ctl -D $work/pg/data -l $work/pg/server.log -w -t 60 -o '-c listen_addresses=127.0.0.1 -p $port -k $work/pg -c max_connections=300' start"; then
			echo "$port" >"$work/pg.port"
			return 0
		fi
		echo "PostgreSQL did not start (attempt $attempt):"; tail -n 20 "$work/pg/server.log" || true
	done
	return 1
}
start_s3() {
	mkdir -p "$work/s3" || return 1
	local port
	port=$(free_port)
	"$gobin/versitygw" --access vouchtest --secret vouchtestsecret --port "127.0.0.1:$port" posix "$work/s3" >"$work/s3.log" 2>&1 &
	echo $! >"$work/s3.pid"
	for _ in $(seq 1 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
			echo "$port" >"$work/s3.port"
			return 0
		fi
		sleep 0.1
	done
	echo "versitygw did not answer on 127.0.0.1:$port:"; cat "$work/s3.log"
	return 1
}
# has_version BINARY MODULE VERSION: BINARY exists and was built from
# MODULE at VERSION.
has_version() {
	[ -x "$1" ] && go version -m "$1" 2>/dev/null | grep -qE "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)"
}
install_versitygw() {
	GOBIN="$gobin" go install "github.com/versity/versitygw/cmd/versitygw@$versitygw_version"
}
cross_build() {
	local t
	for t in $cross_targets; do
		if ! GOOS=${t%/*} GOARCH=${t#*/} CGO_ENABLED=0 go build -o /dev/null ./cmd/vouch; then
			echo "the CLI does not build for $t"
			return 1
		fi
		say "   cross-build ok: $t"
	done
}
# staticcheck_job installs staticcheck if needed and runs it; its findings
# (printed at the end) do not fail the script yet.
staticcheck_job() {
	if ! has_version "$gobin/staticcheck" honnef.co/go/tools "$staticcheck_version"; then
		say "   building staticcheck $staticcheck_version (once)"
		GOBIN="$gobin" go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version" || return 1
		say "   staticcheck built"
	fi
	"$gobin/staticcheck" ./... >"$work/staticcheck.out" 2>&1 || true
}

say "starting in the background: PostgreSQL ($pgbin)"
bg pg "PostgreSQL start" start_postgres
if ! has_version "$gobin/versitygw" github.com/versity/versitygw "$versitygw_version"; then
	say "starting in the background: building versitygw $versitygw_version (the S3 server for the tests; a few minutes, once)"
	bg versitygw "versitygw build" install_versitygw
fi
say "starting in the background: Chromium for the browser tests (installed once, when missing)"
bg chromium "Chromium" ./scripts/install-chromium.sh
say "starting in the background: cross-builds of the CLI ($cross_targets)"
bg cross "cross-builds" niced cross_build

gofmt_check() {
	local unformatted
	unformatted=$(gofmt -l $(find . -name '*.go' -not -path './.git/*')) || return 1
	if [ -n "$unformatted" ]; then
		echo "these files need gofmt:"; echo "$unformatted"; return 1
	fi
}
step "gofmt" gofmt_check
step "go mod tidy -diff (go.mod and go.sum are tidy)" go mod tidy -diff
step "go vet" go vet ./...

# staticcheck now: it reuses what go vet compiled.
bg staticcheck "staticcheck" niced staticcheck_job

# The PostgreSQL/S3 suite starts once its servers are up, beside the SQLite
# one (on a fresh machine that is when versitygw is built).
backend_suite() {
	await pg || return 1
	await versitygw || return 1
	start_s3 || return 1
	local pgport s3port
	pgport=$(cat "$work/pg.port") s3port=$(cat "$work/s3.port")
	say "   PostgreSQL on 127.0.0.1:$pgport and versitygw on 127.0.0.1:$s3port are up: starting the PostgreSQL/S3 tests"
	VOUCH_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable" \
		VOUCH_TEST_S3="s3://vouch-test?endpoint=127.0.0.1:$s3port&secure=false&region=us-east-1" \
		AWS_ACCESS_KEY_ID=vouchtest AWS_SECRET_ACCESS_KEY=vouchtestsecret \
		VOUCH_TEST_REQUIRE_BACKENDS=1 \
		go test -count=1 -timeout 30m ./blob/... ./store/... ./server/... ./internal/... 2>&1 | prefixed "pg+s3 |"
}
bg backend "go test (PostgreSQL, S3)" backend_suite
sqlite_suite() {
	# (-bench prints every package's output: the PASS and goos/goarch/pkg/cpu lines are left out)
	go test -count=1 -timeout 30m -bench . -benchtime 200x ./... 2>&1 |
		sed -u -E '/^(PASS|goos: .*|goarch: .*|pkg: .*|cpu: .*)$/d' | prefixed "sqlite|"
}
step "waiting for: Chromium" collect chromium
export VOUCH_TEST_REQUIRE_BROWSER=1
step "go test and benchmarks (SQLite, blob directory)" sqlite_suite
step "waiting for: go test (PostgreSQL, S3)" collect backend
collect pg
collect versitygw
step "waiting for: staticcheck" collect staticcheck
if [ -s "$work/staticcheck.out" ]; then
	say "staticcheck findings (not fatal yet):"
	sed 's/^/    /' "$work/staticcheck.out"
else
	say "staticcheck: no findings"
fi
step "waiting for: cross-builds" collect cross
check_jobs
say "== all tests passed"
