#!/usr/bin/env bash
# capture-all.sh: refresh the fixture trees probes/testdata/sandboxes/<sandbox>/
# by running `kprobe capture` inside sandboxes of the zoo, check that they are
# redacted and small, then regenerate the golden files of the replay test.
#
#   test/zoo/capture-all.sh              every sandbox `zoo list` says ok, but host
#   test/zoo/capture-all.sh bwrap host   just these (host only when named)
#   make zoo-fixtures                    builds kprobe first
#
# Run as root. KPROBE_BIN names the binary (default bin/kprobe). The capture
# is written inside the sandbox, under a mktemp dir in its /tmp, and comes out
# as a tar stream on stdout (a bind-mounted host dir may be read-only or 9p in
# there), so the sandbox's root needs sh, mktemp and tar (Debian's do).
set -euo pipefail

cd "$(dirname "$0")/../.."
readonly REPO=$PWD
readonly ZOO=$REPO/test/zoo/zoo
readonly FIXTURES=$REPO/probes/testdata/sandboxes
# KPROBE_CAPTURE_DEST: write elsewhere (then the golden files are left alone).
readonly DEST=${KPROBE_CAPTURE_DEST:-$FIXTURES}
BIN=$(realpath -e "${KPROBE_BIN:-bin/kprobe}") || {
	echo "capture-all: no kprobe binary (run make build or set KPROBE_BIN)" >&2
	exit 1
}
# A fixture should not be larger than this, in KB (du --apparent-size; the host's is ~380).
readonly MAX_KB=${KPROBE_CAPTURE_MAX_KB:-1024}

msg() { printf 'capture-all: %s\n' "$*" >&2; }
[[ $EUID -eq 0 ]] || {
	msg "must run as root (the zoo starts its sandboxes as root)"
	exit 1
}

"$ZOO" setup

if (($# > 0)); then
	sandboxes=("$@")
else
	mapfile -t sandboxes < <("$ZOO" list | awk '$2 == "ok" && $1 != "host" {print $1}')
fi

# The binary goes into a directory of its own that user zoo can read: the
# zoo bind-mounts it read-only at the same path inside the sandbox.
work=$(mktemp -d /tmp/kprobe-capture.XXXXXX)
trap 'rm -rf "$work"; "$ZOO" cleanup >/dev/null 2>&1 || true' EXIT
install -d -m 0755 "$work/bin"
install -m 0755 "$BIN" "$work/bin/kprobe"

# The zoo's unprivileged user. Rootless sandboxes show its name in paths
# (podman's storage under the zoo cache) without listing it in their own
# /etc/passwd, so kprobe is told to redact it.
readonly ZOO_USER=zoo
readonly CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Inside the sandbox: capture into a temp dir, stream it out as tar, clean up.
# shellcheck disable=SC2016 # expanded by the sandbox's sh
inner='unset KPROBE_ZOO_BIN_DIR
d=$(mktemp -d) || exit 1
"$0" capture --name "$1" --note "$2" --redact-user "$3" "$d/cap" >&2 && tar -C "$d/cap" -cf - .
rc=$?
rm -rf "$d"
exit $rc'

# leaks dir: what looks like data from this machine that redaction should have
# removed: addresses outside loopback and TEST-NET, this host's name (when
# redact would replace it: 4 characters or more), the names of zoo and of the
# people in /etc/passwd as words of their own (not kprobe-zoo), secrets that
# are not REDACTED.
leaks() {
	local dir=$1 host
	host=$(hostname)
	grep -rEoh '\b([0-9]{1,3}\.){3}[0-9]{1,3}\b' "$dir" 2>/dev/null |
		grep -Ev '^(127\.|0\.0\.0\.0$|255\.|192\.0\.2\.|198\.51\.100\.|203\.0\.113\.)' |
		grep -Ev '(^|\.)0[0-9]' | sort -u | sed 's/^/address: /' || true
	if ((${#host} >= 4)); then
		grep -rlP -- "(?<![-\w])\Q$host\E(?![-\w])" "$dir" 2>/dev/null | sed 's/^/host name in: /' || true
	fi
	local u
	for u in $( (echo "$ZOO_USER" && awk -F: 'length($3) >= 4 && $3 != 65534 {print $1}' /etc/passwd) | sort -u); do
		grep -rlP -- "(?<![-\w])\Q$u\E(?![-\w])" "$dir" 2>/dev/null | sed "s/^/user name $u in: /" || true
	done
	grep -rliP -- '(password|passwd|secret|token|api_?key)\s*[=:]\s*(?!REDACTED)[^\s"]' "$dir" 2>/dev/null |
		sed 's/^/secret-like in: /' || true
}

failed=()
for sb in "${sandboxes[@]}"; do
	new="$work/$sb"
	mkdir -p "$new"
	note="kprobe-zoo sandbox $sb"
	start=$(date +%s.%N)
	# A clean environment: the sandboxes that inherit it (runsc do, unshare,
	# bwrap) would show the caller's in the fixture.
	if ! env -i PATH="$CLEAN_PATH" HOME=/root LANG=C.UTF-8 ${KPROBE_ZOO_CACHE:+"KPROBE_ZOO_CACHE=$KPROBE_ZOO_CACHE"} \
		KPROBE_ZOO_BIN_DIR="$work/bin" "$ZOO" enter "$sb" /bin/sh -c "$inner" \
		"$work/bin/kprobe" "$sb" "$note" "$ZOO_USER" | tar -C "$new" --no-same-owner -xf -; then
		msg "$sb: capture failed"
		failed+=("$sb")
		continue
	fi
	if [[ ! -f $new/PROVENANCE.toml ]]; then
		msg "$sb: no PROVENANCE.toml in the capture"
		failed+=("$sb")
		continue
	fi
	found=$(leaks "$new")
	if [[ -n $found ]]; then
		msg "$sb: not redacted:"
		printf '  %s\n' "$found" >&2
		failed+=("$sb")
		continue
	fi
	kb=$(du -sk --apparent-size "$new" | cut -f1)
	if ((kb > MAX_KB)); then
		msg "$sb: ${kb} KB, more than $MAX_KB KB"
		failed+=("$sb")
		continue
	fi
	rm -rf "${DEST:?}/$sb"
	mv "$new" "$DEST/$sb"
	msg "$sb: $(find "$DEST/$sb" -type f | wc -l) files, ${kb} KB, $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
done

if ((${#failed[@]} > 0)); then
	msg "failed: ${failed[*]} (their fixtures were left as they were)"
	exit 1
fi

if [[ $DEST != "$FIXTURES" ]]; then
	msg "done: $DEST (golden files not regenerated)"
	exit 0
fi
msg "regenerating the golden files"
go test -count=1 ./probes/suite -run TestSandboxFixtures -update
go test -count=1 ./profiles -run TestSandboxVerdicts -update
go test -count=1 ./probes/suite -run TestSandboxFixtures
go test -count=1 ./profiles -run TestSandboxVerdicts
msg "done; review: git status probes/testdata/sandboxes probes/suite/testdata/golden profiles/testdata/verdicts"
