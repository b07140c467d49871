#!/usr/bin/env bash
# build.sh OUTDIR: build the NetworkPolicy enforcer of the kubernetes engine
# (sigs.k8s.io/kube-network-policies, pinned by ./go.mod, with the small
# main of ./cmd/kube-network-policies) as the static binary
# OUTDIR/kube-network-policies. kube-control-plane (hack/engine) links
# package netpol too and runs the enforcer in its process on a single node.
# Its own module: it pins the client-go its release was tested with. The
# Go build cache keeps a rebuild to seconds.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
start=$(date +%s)
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out/kube-network-policies.tmp" ./cmd/kube-network-policies
mv "$out/kube-network-policies.tmp" "$out/kube-network-policies"
echo "kube-network-policies $(go list -m -f '{{.Version}}' sigs.k8s.io/kube-network-policies): built in $(( $(date +%s) - start ))s"
