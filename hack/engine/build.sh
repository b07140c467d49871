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

# The API server's post-start hooks rbac/bootstrap-roles and
# scheduling/bootstrap-system-priority-classes start with
# wait.Poll(1s, 30s, ...), which waits a second before its first try, and
# /readyz waits for both: a fixed second of every start (research/api-start.md).
# The API server is serving when its hooks run, so the first try can be
# immediate; a failed try still retries every second for 30 s. go build
# -overlay may not replace files in the module cache, so the build uses a
# copy of the pinned module (hard links, the two files rewritten) through a
# replace in a copy of go.mod. The patch must apply exactly once, so that a
# version bump that changes the code fails here.
go mod download k8s.io/kubernetes
mod=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)
patched=$PWD/.patched
src=$patched/kubernetes@$version
if [ ! -f "$src/go.mod" ]; then
	rm -rf "$patched" && mkdir -p "$patched"
	cp -al "$mod" "$src.tmp" 2>/dev/null || cp -a "$mod" "$src.tmp"
	# The module cache's directories are read-only; the copy's must not be,
	# so that the files below can be replaced and `make clean` can remove it.
	find "$src.tmp" -type d -exec chmod u+w {} +
	mv "$src.tmp" "$src"
fi
for f in pkg/registry/rbac/rest/storage_rbac.go pkg/registry/scheduling/rest/storage_scheduling.go; do
	rm -f "$src/$f"
	sed 's/wait\.Poll(1\*time\.Second, 30\*time\.Second,/wait.PollImmediate(1*time.Second, 30*time.Second,/' "$mod/$f" >"$src/$f"
	if [ "$(grep -c 'wait\.PollImmediate(1\*time\.Second, 30\*time\.Second,' "$src/$f")" != 1 ]; then
		echo "build.sh: the immediate-poll patch does not apply to $f of k8s.io/kubernetes $version: update or drop it" >&2
		exit 1
	fi
done
cp go.mod go.sum "$patched/"
go mod edit -modfile "$patched/go.mod" -replace "k8s.io/kubernetes=$src"
for c in kube-apiserver kube-controller-manager kube-scheduler kube-control-plane kubelet kube-proxy kubectl; do
	# The two that hold the API server are always relinked: the patch above is
	# not in their version.
	if [ "$c" != kube-control-plane ] && [ "$c" != kube-apiserver ] && [ -x "$out/$c" ] && [ "$("$out/$c" --version 2>/dev/null)" = "Kubernetes $version" ]; then
		echo "$c $version: up to date"
		continue
	fi
	start=$(date +%s)
	pkg=k8s.io/kubernetes/cmd/$c
	[ "$c" = kube-control-plane ] && pkg=./cmd/kube-control-plane
	CGO_ENABLED=0 go build -p "$(nproc)" -trimpath -modfile "$patched/go.mod" -ldflags "$ldflags" -o "$out/$c.tmp" "$pkg"
	mv "$out/$c.tmp" "$out/$c"
	echo "$c $version: built in $(( $(date +%s) - start ))s"
done
