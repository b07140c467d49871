package app

import (
	"github.com/kprobe/kprobe/adapters/imagestore"
	"github.com/kprobe/kprobe/adapters/podnode"
)

// openImageStore opens the node agent's image store (credentials from the
// docker config of the user, proxies from the environment).
func openImageStore(dir string) (podnode.Images, error) {
	return imagestore.Open(imagestore.Options{Dir: dir})
}
