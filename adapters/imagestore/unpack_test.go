package imagestore

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// unpackLayers applies tar layers to a fresh root and returns it.
func unpackLayers(t *testing.T, layers ...[]byte) (string, *Unkept) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	u := newUnpacker(root, DefaultMaxImageBytes, DefaultMaxEntries)
	for i, l := range layers {
		if err := u.apply(bytes.NewReader(l)); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
	unkept, err := u.finish()
	if err != nil {
		t.Fatal(err)
	}
	return root, unkept
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func TestUnpackWhiteoutsAndOpaqueDirs(t *testing.T) {
	root, _ := unpackLayers(t,
		tarBytes(t, dir("a/"), file("a/keep", "k"), file("a/gone", "g"), dir("a/sub/"), file("a/sub/x", "x"),
			dir("a/sub/deep/"), file("a/sub/deep/y", "y"), dir("b/"), file("b/old", "o")),
		// The opaque marker comes after a sibling of the same layer, which
		// it must keep; deep/ is rewritten by this layer but its lower
		// content y is still hidden.
		tarBytes(t, file("a/.wh.gone", ""), file(".wh.b", ""), file("a/sub/new", "n"),
			dir("a/sub/deep/"), file("a/sub/.wh..wh..opq", ""), file("a/sub/deep/z", "z")),
	)
	for p, want := range map[string]bool{
		"a/keep": true, "a/gone": false, "b": false, "a/sub/x": false, "a/sub/new": true,
		"a/sub/deep/y": false, "a/sub/deep/z": true, "a/.wh.gone": false, "a/sub/.wh..wh..opq": false,
	} {
		if got := exists(filepath.Join(root, p)); got != want {
			t.Errorf("%s exists = %v, want %v", p, got, want)
		}
	}
}

func TestUnpackModesTimesLinks(t *testing.T) {
	suid := tent{name: "bin/su", body: "su", typ: tar.TypeReg, mode: 0o4755}
	root, _ := unpackLayers(t,
		tarBytes(t, tent{name: "bin/", typ: tar.TypeDir, mode: 0o751}, suid, file("bin/a", "A"),
			hardlink("bin/b", "bin/a"), symlink("bin/c", "a"), symlink("lib", "/usr/lib"), dir("usr/lib/")),
		// A later layer writes through an absolute symlink, as chroot would.
		tarBytes(t, file("lib/libx.so", "x")),
		// and the next one replaces the symlink by a directory of its own.
		tarBytes(t, file("lib/liby.so", "y"), dir("lib/"), file("lib/own", "o")),
	)
	if st, err := os.Lstat(filepath.Join(root, "lib")); err != nil || !st.IsDir() ||
		!exists(filepath.Join(root, "lib/own")) || exists(filepath.Join(root, "usr/lib/own")) ||
		!exists(filepath.Join(root, "usr/lib/liby.so")) {
		t.Errorf("lib/ replaced by a directory: %v %v", st, err)
	}
	st, err := os.Stat(filepath.Join(root, "bin"))
	if err != nil || st.Mode().Perm() != 0o751 || !st.ModTime().Equal(mtime) {
		t.Errorf("bin/: %v %v (mtime %v)", st.Mode(), err, st.ModTime())
	}
	if st, _ := os.Stat(filepath.Join(root, "bin/su")); st.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("bin/su lost setuid: %v", st.Mode())
	}
	a, _ := os.Stat(filepath.Join(root, "bin/a"))
	b, _ := os.Stat(filepath.Join(root, "bin/b"))
	if !os.SameFile(a, b) || !a.ModTime().Equal(mtime) {
		t.Error("bin/b is not a hard link of bin/a, or lost its mtime")
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/c")); l != "a" {
		t.Errorf("bin/c -> %q", l)
	}
	if !exists(filepath.Join(root, "usr/lib/libx.so")) {
		t.Error("write through /lib -> /usr/lib did not land in usr/lib")
	}
}

// TestUnpackEscapes: no entry of a layer writes, links or deletes outside
// the root, whatever its name, its symlinks or its hard links say.
func TestUnpackEscapes(t *testing.T) {
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	rel := strings.Repeat("../", 20) + strings.TrimPrefix(outside, "/")

	root, _ := unpackLayers(t,
		tarBytes(t, file("../../escape1", "1"), file("/abs/escape2", "2"), file("etc/hostname", "image's"),
			symlink("out", outside), symlink("rel", rel), symlink("sf", victim)),
		tarBytes(t, file("out/pwned", "p"), file("rel/pwned2", "p"), dir("out/newdir/"),
			file("out/.wh.victim", ""), file("rel/.wh..wh..opq", ""), file("sf", "overwritten"),
			hardlink("hl", "out/../../../../../../../../etc/hostname"), symlink("sl", "/etc")),
		tarBytes(t, hardlink("ln-sym", "sf"), file("sl/passwd", "not the host's")),
	)
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 || ents[0].Name() != "victim" {
		t.Errorf("outside dir now holds %v", ents)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("victim = %q", b)
	}
	for _, p := range []string{"escape1", "abs/escape2", strings.TrimPrefix(outside, "/") + "/pwned", "etc/passwd"} {
		if !exists(filepath.Join(root, p)) {
			t.Errorf("%s is not inside the root", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "sf")); string(b) != "overwritten" {
		t.Errorf("sf = %q", b)
	}
	// hl climbs out through out/ (a symlink to outside): it links the
	// root's /etc/hostname, never the host's.
	if b, _ := os.ReadFile(filepath.Join(root, "hl")); string(b) != "image's" {
		t.Errorf("hl = %q, want the root's etc/hostname", b)
	}
}

// TestUnpackOwnershipAsRoot: where chown works, the layer's IDs are kept
// and nothing is recorded.
func TestUnpackOwnershipAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (TestNonRoot covers the other case)")
	}
	root, unkept := unpackLayers(t, tarBytes(t,
		tent{name: "home/app/", typ: tar.TypeDir, mode: 0o700, uid: 1234, gid: 4321},
		tent{name: "home/app/f", body: "f", typ: tar.TypeReg, mode: 0o4750, uid: 1234, gid: 4321},
		tent{name: "home/app/l", link: "f", typ: tar.TypeSymlink, mode: 0o777, uid: 1234, gid: 4321}))
	for _, p := range []string{"home/app", "home/app/f", "home/app/l"} {
		st, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != 1234 || sys.Gid != 4321 {
			if unkept == nil || unkept.Owners["/"+p] != [2]int{1234, 4321} {
				t.Errorf("%s owned by %d:%d and not recorded (%+v)", p, sys.Uid, sys.Gid, unkept)
			}
		}
	}
	// chown clears setuid; the mode is applied after it.
	if st, _ := os.Stat(filepath.Join(root, "home/app/f")); st.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("home/app/f lost setuid: %v", st.Mode())
	}
}

func TestUnpackHardLinkErrors(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	u := newUnpacker(root, DefaultMaxImageBytes, DefaultMaxEntries)
	err := u.apply(bytes.NewReader(tarBytes(t, hardlink("x", "../../../../../../etc/passwd"))))
	if err == nil || !strings.Contains(err.Error(), "hard link source") {
		t.Errorf("hard link to a missing (in-root) source: %v", err)
	}
	err = u.apply(bytes.NewReader(tarBytes(t, dir("d/"), hardlink("y", "d"))))
	if err == nil {
		t.Error("hard link to a directory succeeded")
	}
}

// TestUnpackDevices: device nodes are made where mknod works and listed as
// not kept otherwise; a fifo needs no privilege.
func TestUnpackDevices(t *testing.T) {
	root, unkept := unpackLayers(t, tarBytes(t, dir("dev/"),
		tent{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		tent{name: "dev/fifo", typ: tar.TypeFifo, mode: 0o600}, hardlink("dev/null2", "dev/null")))
	st, err := os.Lstat(filepath.Join(root, "dev/null"))
	made := err == nil && st.Mode()&fs.ModeCharDevice != 0 && exists(filepath.Join(root, "dev/null2"))
	listed := unkept != nil && slices.Equal(unkept.Devices, []string{"/dev/null", "/dev/null2"})
	if made == listed {
		t.Errorf("dev/null made=%v listed=%v (%+v)", made, listed, unkept)
	}
	if st, err := os.Lstat(filepath.Join(root, "dev/fifo")); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("dev/fifo: %v %v", st, err)
	}
}

func TestUnpackBounds(t *testing.T) {
	layer := tarBytes(t, file("a", strings.Repeat("x", 4096)), file("b", "b"), file("c", "c"))
	for _, c := range []struct {
		bytes, entries int64
		want           string
	}{
		{2048, 100, "2048"},
		{1 << 20, 2, "more than 2 entries"},
	} {
		root := t.TempDir()
		err := newUnpacker(root, c.bytes, c.entries).apply(bytes.NewReader(layer))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bound %d/%d: %v, want %q", c.bytes, c.entries, err, c.want)
		}
	}
	// A header that claims more than the bound is refused before writing.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "huge", Typeflag: tar.TypeReg, Size: 1 << 40, Mode: 0o644})
	err := newUnpacker(t.TempDir(), 1<<20, 10).apply(&buf)
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("huge header: %v", err)
	}
}

// TestDiffIDMismatch: layers that do not match the config's diff IDs are
// refused and nothing is published.
func TestDiffIDMismatch(t *testing.T) {
	img := appImage(t, "v1")
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[1] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	bad, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, Options{})
	err = s.importImage(context.Background(), bad, "registry.kprobe.test/bad:1")
	if err == nil || !strings.Contains(err.Error(), "uncompressed digest") {
		t.Fatalf("import: %v", err)
	}
	for _, d := range []string{"roots", "tmp", "refs"} {
		if ents, _ := os.ReadDir(filepath.Join(s.o.Dir, d)); len(ents) != 0 {
			t.Errorf("%s/ holds %v after a refused image", d, ents)
		}
	}
}

// TestNonRoot runs the non-root cases in a child process as nobody when
// the test runs as root, so that both paths are exercised on one machine.
func TestNonRoot(t *testing.T) {
	if os.Getenv("KPROBE_IMAGESTORE_CHILD") != "" {
		nonRootChecks(t)
		return
	}
	if os.Geteuid() != 0 {
		nonRootChecks(t)
		return
	}
	// The go test binary sits in a directory only root may enter.
	bin := filepath.Join(t.TempDir(), "imagestore.test")
	os.Chmod(filepath.Dir(bin), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(bin)), 0o755)
	in, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	io.Copy(out, in)
	in.Close()
	out.Close()
	cmd := exec.Command(bin, "-test.run=^TestNonRoot$", "-test.v")
	cmd.Env = append(os.Environ(), "KPROBE_IMAGESTORE_CHILD=1", "HOME=/nonexistent")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	b, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		// In a user namespace that maps root alone, nobody does not exist.
		t.Skipf("cannot start a child as nobody here: %v", err)
	}
	if err != nil || !strings.Contains(string(b), "--- PASS: TestNonRoot") {
		t.Fatalf("child as nobody: %v\n%s", err, b)
	}
}

// nonRootChecks: ownership is recorded where chown is refused, read-only
// directories still take later layers, unreadable files are made readable
// (and recorded), and a container root can be made and removed.
func nonRootChecks(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Fatal("nonRootChecks as root")
	}
	img := testImage(t, v1cfg(),
		tarBytes(t, tent{name: "etc/", typ: tar.TypeDir, mode: 0o555, uid: 0, gid: 0},
			tent{name: "etc/shadow", body: "secret", typ: tar.TypeReg, mode: 0o000, uid: 0, gid: 42},
			tent{name: "home/app/", typ: tar.TypeDir, mode: 0o700, uid: 1234, gid: 1234},
			tent{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3}),
		tarBytes(t, file("etc/later", "added into a 0555 dir"), file("etc/.wh.shadow", "")),
		tarBytes(t, tent{name: "etc/shadow", body: "again", typ: tar.TypeReg, mode: 0o000, uid: 0, gid: 42}),
	)
	s := openStore(t, Options{})
	if err := s.importImage(context.Background(), img, "registry.kprobe.test/nonroot:1"); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v %v", list, err)
	}
	im := &list[0]
	u := im.Unkept
	if u == nil {
		t.Fatal("nothing recorded as unkept")
	}
	if u.Owners["/etc/shadow"] != [2]int{0, 42} || u.Owners["/home/app"] != [2]int{1234, 1234} {
		t.Errorf("owners = %v", u.Owners)
	}
	if _, ok := u.Modes["/etc/shadow"]; !ok {
		t.Errorf("modes = %v, want /etc/shadow recorded", u.Modes)
	}
	if len(u.Devices) != 1 || u.Devices[0] != "/dev/null" {
		t.Errorf("devices = %v", u.Devices)
	}
	if readRoot(t, im, "etc/shadow") != "again" || readRoot(t, im, "etc/later") == "" {
		t.Error("layers after the 0555 dir were not applied")
	}
	if st, _ := os.Stat(filepath.Join(im.Root, "etc")); st.Mode().Perm() != 0o555 {
		t.Errorf("etc/ mode %v", st.Mode())
	}
	ctr := filepath.Join(t.TempDir(), "ctr")
	if err := s.NewRoot(im, ctr); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(ctr, "etc/shadow")); err != nil || string(b) != "again" {
		t.Errorf("copied shadow: %q %v", b, err)
	}
	if err := s.RemoveRoot(ctr); err != nil {
		t.Fatal(err)
	}
}

// TestCopyForLink: where a filesystem refuses hard links, the link becomes
// a copy with the source's content, mode and mtime; a symlink stays one.
func TestCopyForLink(t *testing.T) {
	root, _ := unpackLayers(t, tarBytes(t, tent{name: "f", body: "data", typ: tar.TypeReg, mode: 0o4751}, symlink("s", "/etc/passwd")))
	if err := copyForLink(filepath.Join(root, "f"), filepath.Join(root, "g")); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Stat(filepath.Join(root, "f"))
	g, err := os.Stat(filepath.Join(root, "g"))
	if err != nil || os.SameFile(f, g) || g.Mode() != f.Mode() || !g.ModTime().Equal(mtime) || readFile(t, root, "g") != "data" {
		t.Errorf("copy: %v %v (source %v)", g, err, f)
	}
	if err := copyForLink(filepath.Join(root, "s"), filepath.Join(root, "t")); err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(filepath.Join(root, "t")); l != "/etc/passwd" {
		t.Errorf("symlink copy -> %q", l)
	}
	if !linkRefused(&os.LinkError{Err: syscall.EPERM}) || linkRefused(&os.LinkError{Err: syscall.ENOENT}) {
		t.Error("linkRefused misclassifies")
	}
}

func readFile(t *testing.T, root, p string) string {
	b, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
