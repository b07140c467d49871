#!/usr/bin/env bash
# fuzz.sh: run every fuzz target of the module (func FuzzX in *_test.go)
# for a bounded time, each under a hard memory limit.
#
#   hack/fuzz.sh              every target, FUZZTIME each (default 3000x)
#   FUZZTIME=30s hack/fuzz.sh probes/procfs   longer, one package
#
# The default is a count of executions, not a duration: Go 1.26's fuzzing
# coordinator can report "context deadline exceeded" when a duration ends
# while a worker is busy on a loaded machine (go.dev/issue/75804, fixed in
# Go 1.27); a count has no deadline to race.
#
# Memory is enforced with RLIMIT_DATA (prlimit --data), which counts the
# private writable memory a process maps (the Go heap): past it an
# allocation fails and the process dies with "out of memory", which fails
# this script. Two limits:
#   - the seed corpus and testdata/fuzz inputs run as plain tests under
#     256 MiB: whole process, test binary included;
#   - the fuzzing itself runs in worker processes that the fuzzing engine
#     sizes at ~290 MiB before any input (measured: VmData of a worker of
#     FuzzParseMountinfo), so a worker gets 256 MiB more than that, 576 MiB.
# A crashing input is saved under the package's testdata/fuzz/ and replays
# under the first limit from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-3000x}
readonly LIMIT=$((256 << 20))
readonly ENGINE=$((320 << 20))
GO=${GO:-go}

if (($# > 0)); then
	pkgs=("$@")
else
	mapfile -t pkgs < <(git grep -l '^func Fuzz' -- '*_test.go' | xargs -n1 dirname | sort -u)
fi
work=$(mktemp -d /tmp/kprobe-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

# One build for all packages (parallel), then one binary per package.
"$GO" test -c -o "$work/" "${pkgs[@]/#/./}" >/dev/null
failed=0
for d in "${pkgs[@]}"; do
	bin=$work/$(basename "$d").test
	[[ -x $bin ]] || { echo "fuzz: no test binary for $d" >&2; failed=1; continue; }
	if ! (cd "$d" && prlimit --data=$LIMIT "$bin" -test.run '^Fuzz' -test.short >/dev/null); then
		echo "fuzz: $d: the seed corpus fails under $((LIMIT >> 20)) MiB" >&2
		failed=1
	fi
	for t in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$d"/*_test.go | cut -c6-); do
		# With a duration as FUZZTIME the engine can report "context
		# deadline exceeded" (above); with no failing input written, that
		# run is tried once more.
		for try in 1 2; do
			if out=$(cd "$d" && prlimit --data=$((LIMIT + ENGINE)) "$bin" -test.run '^$' -test.fuzz "^$t\$" \
				-test.fuzztime "$FUZZTIME" -test.fuzzcachedir "$work/cache" -test.parallel 2 -test.short 2>&1); then
				break
			fi
			if ((try == 1)) && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
				continue
			fi
			echo "fuzz: $d $t failed:" >&2
			echo "$out" | tail -n 30 >&2
			failed=1
			break
		done
	done
done
exit $failed
