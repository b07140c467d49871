#!/usr/bin/env bash
# build.sh OUTDIR: build the NetworkPolicy enforcer of the kubernetes engine
# (sigs.k8s.io/kube-network-policies, pinned by ./go.mod, with the small
# main of ./main.go) as the static binary OUTDIR/kube-network-policies.
# Its own module: it pins the client-go its release was tested with. The
# Go build cache keeps a rebuild to seconds.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
start=$(date +%s)
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out/kube-network-policies.tmp" .
mv "$out/kube-network-policies.tmp" "$out/kube-network-policies"
echo "kube-network-policies $(go list -m -f '{{.Version}}' sigs.k8s.io/kube-network-policies): built in $(( $(date +%s) - start ))s"
