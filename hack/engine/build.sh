#!/usr/bin/env bash
# build.sh OUTDIR: build the upstream Kubernetes components pinned in this
# module into OUTDIR. A component already built at the pinned version is
# kept; the Go build cache makes a rebuild of all five take about a minute.
# kube-control-plane (cmd/kube-control-plane) is kube-apiserver,
# kube-controller-manager and kube-scheduler in one process; launch runs it
# instead of the three when it is beside them. Its source is here, not in
# the pinned module, so it is always rebuilt (a link from the cache).
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS=-mod=mod
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=$(echo "$version" | cut -d. -f2)
v=k8s.io/component-base/version
ldflags="-s -w -X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
for c in kube-apiserver kube-controller-manager kube-scheduler kube-control-plane kubelet kube-proxy kubectl; do
	if [ "$c" != kube-control-plane ] && [ -x "$out/$c" ] && [ "$("$out/$c" --version 2>/dev/null)" = "Kubernetes $version" ]; then
		echo "$c $version: up to date"
		continue
	fi
	start=$(date +%s)
	pkg=k8s.io/kubernetes/cmd/$c
	[ "$c" = kube-control-plane ] && pkg=./cmd/kube-control-plane
	CGO_ENABLED=0 go build -p "$(nproc)" -trimpath -ldflags "$ldflags" -o "$out/$c.tmp" "$pkg"
	mv "$out/$c.tmp" "$out/$c"
	echo "$c $version: built in $(( $(date +%s) - start ))s"
done
