//go:build tools

// Package helm pins the helm CLI that `kprobe verify` uses to install a
// chart on a launched cluster; `make engine` builds it from this module.
package helm

import _ "helm.sh/helm/v3/cmd/helm"
