#!/bin/bash
# one.sh TAG: one T0 launch (`kprobe launch --engine kubernetes`) with poll.py beside it, then the
# components' logs, the supervisor's state, the node and the events saved to /tmp/apistart-TAG,
# and `kprobe stop --purge`. Root, under the host lock; research/api-start.md.
set -u
cd "$(dirname "$0")/../.."
TAG=$1; K=$PWD/bin/kprobe; D=/tmp/apistart-d-$TAG; O=/tmp/apistart-$TAG
rm -rf "$O"; mkdir -p "$O"; cat /proc/loadavg > "$O/load-before"
T0=$(date +%s.%N)
"$K" launch --engine kubernetes --data-dir "$D" --output json > "$O/launch.json" 2>"$O/launch.err" &
LP=$!
python3 hack/apistart/poll.py "$D" "$LP" "$T0" > "$O/poll.jsonl" &
PP=$!
wait "$LP"; echo "rc=$?" >> "$O/launch.err"; kill "$PP" 2>/dev/null; wait "$PP" 2>/dev/null
cat /proc/loadavg > "$O/load-after"
KC=$D/kubeconfigs/admin.conf; KB=$PWD/bin/engine/kubectl
"$KB" --kubeconfig "$KC" get events -A -o json > "$O/events.json" 2>&1
"$KB" --kubeconfig "$KC" get node -o json > "$O/node.json" 2>&1
cp -r "$D/logs" "$O/"; cp "$D/run/state.json" "$O/"
"$K" stop --purge --data-dir "$D" > "$O/stop.txt" 2>&1
