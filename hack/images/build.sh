#!/usr/bin/env bash
# build.sh OUTDIR: build the images kprobe's launcher preloads into
# containerd (nothing can be pulled): bin/images/pause, a static build of
# hack/images/pause, then OUTDIR/pause.tar (registry.k8s.io/pause:3.10.1)
# and OUTDIR/busybox.tar (docker.io/library/busybox:1.35, from a static
# busybox: $BUSYBOX, default /bin/busybox from Debian's busybox-static).
# The archives are deterministic: same inputs, same digests.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.."
busybox=${BUSYBOX:-/bin/busybox}
if [ ! -x "$busybox" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "build.sh: $busybox is missing (as root: apt-get install busybox-static)" >&2
		exit 1
	fi
	echo "build.sh: installing busybox-static"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
mkdir -p bin/images
# -buildvcs=false and -trimpath keep the binary, and so the image digest,
# the same across commits and checkouts.
CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o bin/images/pause ./hack/images/pause
go run ./hack/images/mkimage -pause bin/images/pause -busybox "$busybox" -out "$out"
