// Package imagestore keeps the container images of process pods: it pulls
// OCI and Docker images from registries (go-containerregistry's remote
// package, through HTTP(S)_PROXY with the store's CA bundle and docker
// config or imagePullSecrets credentials), imports the archives kprobe
// builds (docker-archive tarballs and OCI layouts), and unpacks each image
// once into a plain directory by ordinary file operations: no mount, no
// overlay, no xattr, so it works as a non-root user and inside gVisor.
//
// Layout under Options.Dir:
//
//	roots/sha256-HEX/       unpacked root of the image whose config digest is HEX
//	images/sha256-HEX.json  the image's config and what the unpack could not keep
//	refs/SHA(NAME).json     a reference (normalized name) -> manifest and config digest
//	made/SHA(DIR)           a container root NewRoot made (RemoveRoot deletes only those)
//	tmp/                    unpacks in progress; renamed into roots/ when complete
//
// Roots are keyed by the config digest (the image ID), so the same image
// pulled and loaded shares one root; every layer's uncompressed digest is
// checked against the config before the root is published, so a manifest
// cannot pass foreign layers off as another image's. Layers are untrusted:
// every path is resolved inside the root (filepath-securejoin), the last
// component is never followed, and sizes and entry counts are bounded.
package imagestore
