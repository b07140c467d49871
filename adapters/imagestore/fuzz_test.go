package imagestore

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// FuzzUnpackLayer: image layers are untrusted input. Whatever two layers
// hold (names, symlinks, hard links, whiteouts, headers that lie about
// sizes), unpacking them never panics and never writes, links or deletes
// beside the root: the root's sibling directory and its file stay as
// they were.
func FuzzUnpackLayer(f *testing.F) {
	for _, l := range [][2][]byte{
		{tarBytes(f, dir("a/"), file("a/x", "x"), symlink("out", "../outside"), symlink("up", "../../../outside/victim")),
			tarBytes(f, file("out/pwned", "p"), file("out/.wh.victim", ""), file("up", "overwritten"), file(".wh.a", ""))},
		{tarBytes(f, file("../outside/victim", "1"), file("/../outside/new", "2"), hardlink("hl", "../outside/victim")),
			tarBytes(f, symlink("d", ".."), file("d/outside/victim", "3"), file("d/.wh..wh..opq", ""))},
		{tarBytes(f, symlink("etc", "/"), hardlink("h", "etc/../outside/victim")), nil},
	} {
		f.Add(l[0], l[1])
	}
	f.Fuzz(func(t *testing.T, layer1, layer2 []byte) {
		base := t.TempDir()
		root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
		victim := filepath.Join(outside, "victim")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Small bounds: what matters is that they hold, not their size.
		u := newUnpacker(root, 1<<20, 256)
		if u.apply(bytes.NewReader(layer1)) == nil && u.apply(bytes.NewReader(layer2)) == nil {
			_, _ = u.finish()
		}
		ents, _ := os.ReadDir(base)
		if len(ents) != 2 {
			t.Errorf("beside the root: %v", ents)
		}
		ents, _ = os.ReadDir(outside)
		if len(ents) != 1 || ents[0].Name() != "victim" || !ents[0].Type().IsRegular() {
			t.Errorf("outside the root now holds %v", ents)
		}
		if b, err := os.ReadFile(victim); string(b) != "precious" {
			t.Errorf("a file outside the root = %q, %v", b, err)
		}
		if st, err := os.Stat(victim); err == nil && st.Sys().(*syscall.Stat_t).Nlink != 1 {
			t.Errorf("a file outside the root was hard-linked into it (%d links)", st.Sys().(*syscall.Stat_t).Nlink)
		}
		// Layers may make directories without u+w: t.TempDir's cleanup
		// must still remove them.
		_ = removeTree(root)
	})
}

// FuzzPullSecret: an imagePullSecret is the pod author's input. Whatever it
// holds, it parses or is refused, without running anything, and its keys
// are matched against a repository without a panic.
func FuzzPullSecret(f *testing.F) {
	f.Add([]byte(`{"auths":{"registry.test:5000":{"auth":"dXNlcjpwd2Q="}}}`), "registry.test:5000/team/app")
	f.Add([]byte(`{"*.test/team":{"username":"u","password":"p"},"https://registry.test/v1/":{}}`), "a.test/team/x")
	f.Add([]byte(`{"auths":{"registry.test":{"credHelper":"sh"}}}`), "registry.test/x")
	f.Fuzz(func(t *testing.T, secret []byte, repo string) {
		auths, err := parseDockerConfigJSON(secret)
		if err != nil {
			return
		}
		r, err := name.NewRepository(repo)
		if err != nil {
			return
		}
		for key := range auths {
			_ = matchesRegistry(key, r)
		}
	})
}
