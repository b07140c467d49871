#!/usr/bin/env bash
# build.sh OUTDIR: build the helm CLI pinned in this module into OUTDIR
# (kept when already built at the pinned version).
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS=-mod=mod
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
version=$(go list -m -f '{{.Version}}' helm.sh/helm/v3)
if [ -x "$out/helm" ] && "$out/helm" version --short 2>/dev/null | grep -q "^$version"; then
	echo "helm $version: up to date"
	exit 0
fi
start=$(date +%s)
CGO_ENABLED=0 go build -p "$(nproc)" -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version" -o "$out/helm.tmp" helm.sh/helm/v3/cmd/helm
mv "$out/helm.tmp" "$out/helm"
echo "helm $version: built in $(( $(date +%s) - start ))s"
