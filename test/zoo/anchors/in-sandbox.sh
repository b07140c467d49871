#!/bin/sh
# in-sandbox.sh CHECKER: runs one checker inside a zoo sandbox, from the
# stage directory that test/zoo/anchors made and the zoo bound in (see
# main.go for its layout). Container sandboxes start with a clean
# environment, so PATH is set here: kubeadm looks for kubelet on it and
# virt-what for its cpuid helper.
set -u
d=$(dirname "$0")
PATH="$d/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH
case "${1:-}" in
kprobe) exec "$d/kprobe" scan --output json --timeout 60s ;;
check-config) exec bash "$d/check-config.sh" ;;
kubeadm) exec "$d/bin/kubeadm" init phase preflight --config "$d/kubeadm.yaml" ;;
# systemd-detect-virt with the host's libraries (and loader) beside it: the
# sandboxes' roots have no systemd.
systemd-detect-virt) exec "$d/lib/ld-linux-x86-64.so.2" --library-path "$d/lib" "$d/lib/systemd-detect-virt" ;;
virt-what) exec sh "$d/bin/virt-what" ;;
*) echo "usage: in-sandbox.sh kprobe|check-config|kubeadm|systemd-detect-virt|virt-what" >&2; exit 125 ;;
esac
