package install

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kprobe/kprobe/adapters/download"
)

// BundleSums is the first member of a bundle: sha256sum lines of every
// other member, which install checks each file against.
const BundleSums = "SHA256SUMS"

// CreateBundle writes one tarball (gzip-compressed when out ends in .gz)
// for a machine without network: files maps each path of the install
// dir's layout ("kprobe", "kubelet", "cni/bridge", "images/pause.tar")
// to a local file. out.sha256 gets the bundle's own digest.
func CreateBundle(out string, files map[string]string) error {
	names := make([]string, 0, len(files))
	for n := range files {
		if err := checkMember(n); err != nil {
			return err
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var sums bytes.Buffer
	for _, n := range names {
		d, err := download.FileSHA256(files[n])
		if err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%s  %s\n", d, n)
	}
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	var w io.Writer = io.MultiWriter(f, h)
	var gz *gzip.Writer
	if strings.HasSuffix(out, ".gz") {
		gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		w = gz
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: BundleSums, Mode: 0o644, Size: int64(sums.Len()), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	tw.Write(sums.Bytes())
	for _, n := range names {
		if err := addFile(tw, n, files[n]); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return err
		}
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return err
	}
	return os.WriteFile(out+".sha256", []byte(hex.EncodeToString(h.Sum(nil))+"  "+filepath.Base(out)+"\n"), 0o644)
}

func addFile(tw *tar.Writer, name, src string) error {
	s, err := os.Open(src)
	if err != nil {
		return err
	}
	defer s.Close()
	fi, err := s.Stat()
	if err != nil {
		return err
	}
	mode := int64(0o755)
	if strings.HasPrefix(name, "images/") {
		mode = 0o644
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: fi.Size(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	n, err := io.Copy(tw, s)
	if err == nil && n != fi.Size() {
		err = fmt.Errorf("%s changed while it was packed", src)
	}
	return err
}

// checkMember refuses member names that could leave the install dir or
// that the layout does not have.
func checkMember(n string) error {
	if n == "" || path.IsAbs(n) || path.Clean(n) != n || strings.HasPrefix(n, "../") || n == ".." {
		return inputErrorf("bundle member %q is not a plain relative path", n)
	}
	if d := path.Dir(n); d != "." && d != "cni" && d != "images" {
		return inputErrorf("bundle member %q is outside the engine layout (top level, cni/, images/)", n)
	}
	return nil
}

// InstallBundle installs a bundle made by CreateBundle into dir: each file
// is checked against the bundle's SHA256SUMS while it is written, under a
// temporary name, and renamed into place only when it matches. When
// bundle.sha256 exists beside it, the whole bundle is checked first.
func InstallBundle(bundle, dir string) error {
	if data, err := download.ReadSumsFile(bundle + ".sha256"); err == nil || !errors.Is(err, fs.ErrNotExist) {
		if err != nil {
			return inputErrorf("%v", err)
		}
		want, err := download.LookupSum(data, filepath.Base(bundle))
		if err != nil {
			return inputErrorf("%s.sha256: %v", bundle, err)
		}
		got, err := download.FileSHA256(bundle)
		if err != nil {
			return err
		}
		if got != want {
			return inputErrorf("%s has sha256 %s but %s.sha256 says %s: the bundle is corrupt, nothing was installed", bundle, got, bundle, want)
		}
	}
	f, err := os.Open(bundle)
	if err != nil {
		return inputErrorf("%v", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(bundle, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return inputErrorf("%s: %v", bundle, err)
		}
		r = gz
	}
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil || h.Name != BundleSums || h.Size > 1<<20 {
		return inputErrorf("%s is not a kprobe bundle (its first member is not %s)", bundle, BundleSums)
	}
	sumsData, err := io.ReadAll(tr)
	if err != nil {
		return err
	}
	sums, err := parseBundleSums(sumsData)
	if err != nil {
		return inputErrorf("%s: %s: %v", bundle, BundleSums, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	seen := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return inputErrorf("%s: %v", bundle, err)
		}
		if h.Typeflag != tar.TypeReg {
			return inputErrorf("%s: member %s is not a regular file", bundle, h.Name)
		}
		if err := checkMember(h.Name); err != nil {
			return err
		}
		want, ok := sums[h.Name]
		if !ok {
			return inputErrorf("%s: %s is not listed in %s", bundle, h.Name, BundleSums)
		}
		dest := filepath.Join(dir, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		fill := func(w io.Writer) error { _, err := io.Copy(w, io.LimitReader(tr, h.Size)); return err }
		mismatch := func(got string) error {
			return inputErrorf("%s: %s has sha256 %s, not %s as %s says: the bundle is corrupt; %s was not installed", bundle, h.Name, got, want, BundleSums, h.Name)
		}
		if strings.HasPrefix(h.Name, "images/") {
			err = writeFileAtomicSum(dest, want, fill, mismatch)
		} else {
			err = writeAtomic(dest, want, "", fill, mismatch)
		}
		if err != nil {
			return err
		}
		seen++
	}
	if seen != len(sums) {
		return inputErrorf("%s holds %d files but %s lists %d: it is truncated", bundle, seen, BundleSums, len(sums))
	}
	return nil
}

// writeFileAtomicSum is writeFileAtomic with a digest check.
func writeFileAtomicSum(dest, want string, fill func(io.Writer) error, mismatch func(string) error) error {
	var got string
	err := writeFileAtomic(dest, func(w io.Writer) error {
		h := sha256.New()
		if err := fill(io.MultiWriter(w, h)); err != nil {
			return err
		}
		if got = hex.EncodeToString(h.Sum(nil)); got != want {
			return mismatch(got)
		}
		return nil
	})
	return err
}

// parseBundleSums reads the bundle's SHA256SUMS: paths kept whole, each
// a member of the engine layout, listed once.
func parseBundleSums(data []byte) (map[string]string, error) {
	lines, err := download.ParseSums(data)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	for _, l := range lines {
		if err := checkMember(l.Name); err != nil {
			return nil, err
		}
		if _, dup := sums[l.Name]; dup {
			return nil, fmt.Errorf("%s is listed twice", l.Name)
		}
		sums[l.Name] = l.Digest
	}
	return sums, nil
}
