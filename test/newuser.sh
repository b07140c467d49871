#!/bin/sh
# The new user of issue 16, on this host: every runnable command block of
# README.md and docs/ pasted into a shell (TestDocsAsPasted), and the
# README's blocks typed into an 80x24 terminal with kprobe's live views
# (TestNewUserInTerminal, tmux). Both are part of `make test`; this runs
# only them. Root; starts clusters, so it holds the host lock (flock -o:
# the terminal's tmux server must not inherit it). About 5 minutes on a quiet
# machine after `make build engine images addons`; 10-20 at a load of 30.
set -eu
cd "$(dirname "$0")/.."
make build
exec flock -o /tmp/kprobe-host.lock env KPROBE_E2E=1 KPROBE_BIN="$PWD/bin/kprobe" \
	go test -count=1 -timeout 20m -v -run 'TestDocsAsPasted|TestNewUserInTerminal' ./test/e2e/
