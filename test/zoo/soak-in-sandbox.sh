#!/bin/sh
# Runs inside a zoo sandbox from a staged dir holding kprobe, kprobe-cluster, kprobe-node-agent,
# engine/ and images/ (and this script): launch --profile auto, soak for $1
# (default 3m), stop --purge; the soak result (JSON) at the end of stdout
# (research/stability.md).
B=$(dirname "$0") K=$B/kprobe D=/var/lib/kprobe DURATION=${1:-3m}
E=$(mktemp -d)
"$K" launch --profile auto --data-dir "$D" --bin-dir "$B/engine" --images-dir "$B/images" --wait 150s >"$E/launch.out" 2>"$E/launch.log"
echo "launch rc $?"; tail -20 "$E/launch.log"
tail -5 "$E/launch.out"
"$K" status --data-dir "$D" 2>&1 | tail -3
"$K" soak --data-dir "$D" --duration "$DURATION" -o json --out "$E/soak.json" >"$E/soak.txt" 2>&1
echo "soak rc $?"
cat "$E/soak.txt"
"$K" status --data-dir "$D" 2>&1 | tail -2
"$K" stop --data-dir "$D" --purge >"$E/stop.log" 2>&1
echo "stop rc $?"
echo "=== soak.json"
cat "$E/soak.json"
rm -rf "$E"
