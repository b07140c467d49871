package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// ImportOption changes how Import runs ctr.
type ImportOption func(*importConfig)

type importConfig struct {
	snapshotter string
}

// WithSnapshotter unpacks the image into this snapshotter. It must be the
// one the CRI plugin uses (its "snapshotter" key) when that is not ctr's
// default, overlayfs: the CRI would otherwise unpack again when the first
// container starts, and importing fails where overlayfs does not work.
func WithSnapshotter(name string) ImportOption {
	return func(c *importConfig) { c.snapshotter = name }
}

// Import runs "ctr -a ADDRESS -n NAMESPACE images import ARCHIVE" and
// waits for it: the image gets the archive's io.containerd.image.name
// and is unpacked for this machine's platform. An empty address or
// namespace leaves ctr's default (its $CONTAINERD_ADDRESS or
// /run/containerd/containerd.sock, and "default"); the kubelet sees only
// images in CRINamespace. A failure's error carries ctr's stderr.
func Import(ctx context.Context, ctrPath, address, namespace, archive string, opts ...ImportOption) error {
	var cfg importConfig
	for _, o := range opts {
		o(&cfg)
	}
	args := importArgs(address, namespace, archive, cfg)
	cmd := exec.CommandContext(ctx, ctrPath, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		if msg != "" {
			return fmt.Errorf("%s %s: %w: %s", ctrPath, strings.Join(args, " "), err, msg)
		}
		return fmt.Errorf("%s %s: %w", ctrPath, strings.Join(args, " "), err)
	}
	return nil
}

func importArgs(address, namespace, archive string, cfg importConfig) []string {
	var args []string
	if address != "" {
		args = append(args, "--address", address)
	}
	if namespace != "" {
		args = append(args, "--namespace", namespace)
	}
	args = append(args, "images", "import")
	if cfg.snapshotter != "" {
		args = append(args, "--snapshotter", cfg.snapshotter)
	}
	return append(args, archive)
}
