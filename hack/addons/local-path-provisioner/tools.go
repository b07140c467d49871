//go:build tools

// Package localpath pins local-path-provisioner, the storage provisioner
// behind the default StorageClass kprobe launch deploys (as k3s does).
// hack/addons/build.sh builds its main package from this module; its own
// module, apart from CoreDNS's, so that each is built with the
// dependency versions it was released with (client-go v0.30 here, v0.37
// there). Nothing here is imported by kprobe itself.
package localpath

import _ "github.com/rancher/local-path-provisioner"
