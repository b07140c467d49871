#!/usr/bin/env bash
# build.sh OUTDIR: build the cluster add-ons kprobe launch deploys on the
# upstream engine, each from its own module pinned here, as static
# binaries in bin/addons (CoreDNS from ./coredns, local-path-provisioner
# from ./local-path-provisioner), then package them with
# hack/images/mkimage as OUTDIR/coredns.tar and
# OUTDIR/local-path-provisioner.tar (adapters/addons names them). The
# archives are deterministic: same inputs, same digests. The Go build
# cache keeps a rebuild to seconds; cold, both take about 2.5 min on 2
# cores, downloads included.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
here=$(pwd)
bin=$(cd ../.. && pwd)/bin/addons
mkdir -p "$bin"
export GOFLAGS=-mod=mod CGO_ENABLED=0
# -trimpath and -buildvcs=false keep the binaries, and so the image
# digests, the same across checkouts.
build() { # name moduledir package ldflags module
	local start
	start=$(date +%s)
	(cd "$here/$2" && go build -p "$(nproc)" -trimpath -buildvcs=false -ldflags "-s -w $4" -o "$bin/$1.tmp" "$3")
	mv "$bin/$1.tmp" "$bin/$1"
	echo "$1 $(cd "$here/$2" && go list -m -f '{{.Version}}' "$5"): built in $(( $(date +%s) - start ))s"
}
build coredns coredns . "" github.com/coredns/coredns
build local-path-provisioner local-path-provisioner github.com/rancher/local-path-provisioner \
	"-X main.VERSION=$(cd local-path-provisioner && go list -m -f '{{.Version}}' github.com/rancher/local-path-provisioner)" \
	github.com/rancher/local-path-provisioner
cd ../..
go run ./hack/images/mkimage -coredns "$bin/coredns" -local-path-provisioner "$bin/local-path-provisioner" -out "$out"
