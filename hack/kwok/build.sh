#!/usr/bin/env bash
# build.sh OUTDIR: build the kwok controller pinned in this module into
# OUTDIR (kept when already built at the pinned version), and write
# OUTDIR/kwok-stages.yaml: kwok's default stages from the same module (the
# fast node and pod stages and the lease heartbeat, as kwokctl configures
# them), which `kprobe launch --simulate-nodes` passes to kwok with
# --config. Cold, the build takes about 3 min on 2 cores; the Go build
# cache keeps a rebuild to seconds.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
export GOFLAGS=-mod=mod
version=$(go list -m -f '{{.Version}}' sigs.k8s.io/kwok)
go mod download sigs.k8s.io/kwok
src=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
stages=$out/kwok-stages.yaml
{
	echo "# kwok's default stages, from sigs.k8s.io/kwok $version kustomize/stage (written by hack/kwok/build.sh)."
	for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
		pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
		echo "---"
		cat "$src/kustomize/stage/$f"
	done
} >"$stages.tmp"
mv "$stages.tmp" "$stages"
if [ -x "$out/kwok" ] && "$out/kwok" --version 2>/dev/null | grep -q " $version "; then
	echo "kwok $version: up to date"
	exit 0
fi
start=$(date +%s)
CGO_ENABLED=0 go build -p "$(nproc)" -trimpath -buildvcs=false \
	-ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${version#v}" -o "$out/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok
mv "$out/kwok.tmp" "$out/kwok"
echo "kwok $version: built in $(( $(date +%s) - start ))s"
