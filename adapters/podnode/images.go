package podnode

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"github.com/kprobe/kprobe/adapters/imagestore"
)

// Images is what the provider needs from the image store
// (*imagestore.Store): make sure an image is present, pulling it per the
// pull policy, and give each container its own writable root made from it.
type Images interface {
	Ensure(ctx context.Context, ref string, policy corev1.PullPolicy, pullSecrets [][]byte, p imagestore.Progress) (*imagestore.Image, error)
	NewRoot(img *imagestore.Image, dir string) error
	RemoveRoot(dir string) error
}
