package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Load imports an image archive the user has (a docker-archive from
// "docker save", an OCI layout in a tar) or an OCI layout directory into
// containerd's CRI namespace, as Import does; a directory is packed into
// a temporary tar first, since ctr imports archives only.
func Load(ctx context.Context, ctrPath, address, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return Import(ctx, ctrPath, address, CRINamespace, path)
	}
	if _, err := os.Stat(filepath.Join(path, "index.json")); err != nil {
		return fmt.Errorf("%s is a directory but not an OCI image layout (no index.json)", path)
	}
	tmp, err := os.CreateTemp("", "kprobe-image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tarDir(tmp, path); err != nil {
		tmp.Close()
		return fmt.Errorf("pack %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return Import(ctx, ctrPath, address, CRINamespace, tmp.Name())
}

// tarDir writes the regular files and directories under dir into w,
// with names relative to dir. Symlinks are refused: a layout has none.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// List returns the images containerd's CRI namespace holds, as
// "ctr images ls" prints them (a header line, then one line an image).
func List(ctx context.Context, ctrPath, address string) (string, error) {
	args := []string{"--address", address, "--namespace", CRINamespace, "images", "ls"}
	cmd := exec.CommandContext(ctx, ctrPath, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", ctrPath, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
