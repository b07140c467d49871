#!/usr/bin/env bash
# build-kubeadm.sh OUTDIR: build kubeadm from the k8s.io/kubernetes module
# that hack/engine pins (the engine's version) into OUTDIR, for the anchors'
# kubeadm preflight. Kept when already built at that version; the Go build
# cache makes a rebuild take about a minute (about 2 min after make engine).
set -euo pipefail
out=$(realpath -m "${1:?usage: build-kubeadm.sh OUTDIR}")
cd "$(dirname "$0")/../../../hack/engine"
mkdir -p "$out"
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
if [ -x "$out/kubeadm" ] && [ "$("$out/kubeadm" version -o short 2>/dev/null)" = "$version" ]; then
	echo "kubeadm $version: up to date"
	exit 0
fi
minor=$(echo "$version" | cut -d. -f2)
v=k8s.io/component-base/version
ldflags="-s -w -X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kubeadm.tmp" k8s.io/kubernetes/cmd/kubeadm
mv "$out/kubeadm.tmp" "$out/kubeadm"
echo "kubeadm $version: built"
