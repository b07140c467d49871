// Command mkimage writes the images kprobe's launcher preloads into
// containerd as OCI archives: OUT/pause.tar (registry.k8s.io/pause) and
// OUT/busybox.tar (docker.io/library/busybox), which hack/images/build.sh
// asks for, and the add-ons' OUT/coredns.tar and
// OUT/local-path-provisioner.tar (adapters/addons), which
// hack/addons/build.sh asks for. It writes the images whose flag is set.
//
//	mkimage -pause bin/images/pause -busybox /bin/busybox -out DIR
//	mkimage -coredns BIN -local-path-provisioner BIN -out DIR
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kprobe/kprobe/adapters/addons"
	"github.com/kprobe/kprobe/adapters/images"
)

func main() {
	var in inputs
	flag.StringVar(&in.pause, "pause", "", "static pause binary (hack/images/pause)")
	flag.StringVar(&in.busybox, "busybox", "", "static busybox binary (Debian: busybox-static)")
	flag.StringVar(&in.coredns, "coredns", "", "static CoreDNS binary (hack/addons)")
	flag.StringVar(&in.localPath, "local-path-provisioner", "", "static local-path-provisioner binary (hack/addons)")
	out := flag.String("out", "", "output directory (required)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 || in == (inputs{}) {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

// inputs are the binaries of the images to write; empty ones are skipped.
type inputs struct{ pause, busybox, coredns, localPath string }

func run(in inputs, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, x := range []struct {
		file, binary string
		img          func(string) (images.Image, error)
	}{
		{"pause.tar", in.pause, func(b string) (images.Image, error) { return images.PauseImage(b), nil }},
		{"busybox.tar", in.busybox, images.BusyboxImage},
		{addons.CoreDNSArchive, in.coredns, addons.CoreDNSImage},
		{addons.LocalPathArchive, in.localPath, addons.LocalPathImage},
	} {
		if x.binary == "" {
			continue
		}
		img, err := x.img(x.binary)
		if err != nil {
			return err
		}
		if err := write(filepath.Join(out, x.file), img); err != nil {
			return err
		}
	}
	return nil
}

// write builds img into path (through a temporary file, so a reader never
// sees half an archive) and prints what it wrote.
func write(path string, img images.Image) error {
	start := time.Now()
	var buf bytes.Buffer
	if err := images.BuildOCI(&buf, img); err != nil {
		return err
	}
	took := time.Since(start)
	info, err := images.Inspect(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return fmt.Errorf("%s: built archive fails its check: %w", img.Name, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	fmt.Printf("%s: %s manifest %s, layer %d entries %d bytes, archive %d bytes, built in %v\n",
		path, info.Name, info.Manifest.Digest, info.LayerEntries, info.Layer.Size, info.ArchiveSize, took.Round(time.Millisecond))
	return nil
}
