// Command mkimage writes the images kprobe's launcher preloads into
// containerd as OCI archives: OUT/pause.tar (registry.k8s.io/pause) and
// OUT/busybox.tar (docker.io/library/busybox). hack/images/build.sh runs
// it.
//
//	mkimage -pause bin/images/pause -busybox /bin/busybox -out DIR
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kprobe/kprobe/adapters/images"
)

func main() {
	pause := flag.String("pause", "bin/images/pause", "static pause binary (hack/images/pause)")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary (Debian: busybox-static)")
	out := flag.String("out", "", "output directory (required)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*pause, *busybox, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(pause, busybox, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	bb, err := images.BusyboxImage(busybox)
	if err != nil {
		return err
	}
	for _, x := range []struct {
		file string
		img  images.Image
	}{
		{"pause.tar", images.PauseImage(pause)},
		{"busybox.tar", bb},
	} {
		if err := write(filepath.Join(out, x.file), x.img); err != nil {
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
