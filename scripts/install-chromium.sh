#!/usr/bin/env bash
# Installs Debian's chromium package, which the browser tests of package web
# drive through the Chrome DevTools protocol, when it is missing. Idempotent:
# with chromium present (at $VOUCH_CHROMIUM or /usr/bin/chromium) it only
# says so. The package lists are refreshed only when apt knows no candidate
# for chromium. Needs root (or sudo) to install.
set -euo pipefail

bin=${VOUCH_CHROMIUM:-/usr/bin/chromium}
if [ -x "$bin" ]; then
	echo "chromium: present at $bin ($("$bin" --version 2>/dev/null || echo 'version unknown'))"
	exit 0
fi
if ! command -v apt-get >/dev/null; then
	echo "chromium: missing at $bin, and this is not a Debian-like system: install Chromium and set VOUCH_CHROMIUM" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "chromium: missing, and installing it needs root" >&2
		exit 1
	fi
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
	echo "chromium: apt knows no candidate; running apt-get update"
	$sudo apt-get update -q
fi
echo "chromium: installing Debian's chromium package (apt-get install -y chromium)"
$sudo apt-get install -y -q --no-install-recommends chromium
if [ -n "${VOUCH_CHROMIUM:-}" ] && [ ! -x "$VOUCH_CHROMIUM" ]; then
	echo "chromium: installed at /usr/bin/chromium, but VOUCH_CHROMIUM names $VOUCH_CHROMIUM" >&2
	exit 1
fi
echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
