package addons

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kprobe/kprobe/adapters/images"
)

// Image names the manifests refer to. They are the upstream names, so a
// cluster that can pull would run the same references; here the
// launcher imports them, built by hack/addons (`make addons`).
const (
	CoreDNSImageName   = "registry.k8s.io/coredns/coredns:v1.15.0"
	LocalPathImageName = "docker.io/rancher/local-path-provisioner:v0.0.30"
	// HelperImageName runs local-path-provisioner's setup and teardown
	// scripts: the busybox image the launcher imports anyway.
	HelperImageName = images.BusyboxName
)

// Archive file names, next to pause.tar and busybox.tar.
const (
	CoreDNSArchive   = "coredns.tar"
	LocalPathArchive = "local-path-provisioner.tar"
)

// CoreDNSImage is CoreDNS's image: the static binary as /coredns, the
// entrypoint, as in the upstream image. The Corefile comes from the
// ConfigMap (-conf in the Deployment).
func CoreDNSImage(binary string) (images.Image, error) {
	if err := checkStatic(binary); err != nil {
		return images.Image{}, err
	}
	return images.Image{
		Name:       CoreDNSImageName,
		Files:      []images.File{{Path: "/coredns", Source: binary, Mode: 0o755}},
		Entrypoint: []string{"/coredns"},
		Env:        []string{images.DefaultPath},
		WorkingDir: "/",
	}, nil
}

// LocalPathImage is local-path-provisioner's image: the static binary
// as /usr/bin/local-path-provisioner (the Deployment's command names it
// through PATH, as with the upstream image) and a /tmp.
func LocalPathImage(binary string) (images.Image, error) {
	if err := checkStatic(binary); err != nil {
		return images.Image{}, err
	}
	return images.Image{
		Name: LocalPathImageName,
		Files: []images.File{
			{Path: "/usr/bin/local-path-provisioner", Source: binary, Mode: 0o755},
			{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		},
		Cmd:        []string{"local-path-provisioner"},
		Env:        []string{images.DefaultPath},
		WorkingDir: "/",
	}, nil
}

func checkStatic(binary string) error {
	return images.CheckStatic(binary, "build it with CGO_ENABLED=0 (hack/addons/build.sh does)")
}

// Archives returns the add-ons' image archives from dir, else from
// kprobe's own bin/images, or an error that says how to build them.
func Archives(dir string) ([]string, error) {
	var dirs []string
	if dir != "" {
		dirs = append(dirs, dir)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "images"))
	}
	for _, d := range dirs {
		found := []string{filepath.Join(d, CoreDNSArchive), filepath.Join(d, LocalPathArchive)}
		if exists(found[0]) && exists(found[1]) {
			return found, nil
		}
	}
	return nil, fmt.Errorf("the add-on image archives (%s, %s) are missing: build them with `make addons` or pass --images-dir; launch goes on without cluster DNS and storage (--no-addons says so up front)",
		CoreDNSArchive, LocalPathArchive)
}

func exists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
