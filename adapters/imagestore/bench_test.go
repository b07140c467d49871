package imagestore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// realisticLayer builds a tar of about 64 MiB shaped like a distro layer:
// ~3000 files, mostly small text-like ones (1-32 KiB) and a few binaries
// (1-6 MiB), in ~150 directories, with symlinks and hard links.
func realisticLayer(b *testing.B) []byte {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the quick brown fox jumps over lazy dog config value path lib usr share doc main func return")
	text := func(n int) string {
		var sb strings.Builder
		for sb.Len() < n {
			sb.WriteString(words[r.IntN(len(words))])
			sb.WriteByte(' ')
		}
		return sb.String()[:n]
	}
	binary := func(n int) string {
		buf := make([]byte, n)
		for i := range buf {
			if i%4 == 0 {
				buf[i] = byte(r.Uint32())
			}
		}
		return string(buf)
	}
	var ents []tent
	for d := 0; d < 150; d++ {
		dn := fmt.Sprintf("usr/share/pkg%03d/", d)
		ents = append(ents, dir("usr/"), dir("usr/share/"), dir(dn))
		for f := 0; f < 20; f++ {
			ents = append(ents, file(fmt.Sprintf("%sfile%02d.txt", dn, f), text(1024+r.IntN(31*1024))))
		}
		ents = append(ents, symlink(dn+"link", "file00.txt"), hardlink(dn+"hard", dn+"file01.txt"))
	}
	ents = append(ents, dir("usr/bin/"))
	for i := 0; i < 8; i++ {
		e := file(fmt.Sprintf("usr/bin/tool%d", i), binary((1+r.IntN(6))<<20))
		e.mode = 0o755
		ents = append(ents, e)
	}
	return tarBytes(b, ents...)
}

// BenchmarkUnpack measures unpack throughput in MB/s of uncompressed layer:
// "tar" is the unpacker alone, "gzip" the whole path of a pulled layer
// (decompression, diff ID hashing, unpack, publish).
func BenchmarkUnpack(b *testing.B) {
	layer := realisticLayer(b)
	b.Run("tar", func(b *testing.B) {
		b.SetBytes(int64(len(layer)))
		for b.Loop() {
			b.StopTimer()
			root := filepath.Join(b.TempDir(), "root")
			os.Mkdir(root, 0o755)
			b.StartTimer()
			u := newUnpacker(root, DefaultMaxImageBytes, DefaultMaxEntries)
			if err := u.apply(bytes.NewReader(layer)); err != nil {
				b.Fatal(err)
			}
			if _, err := u.finish(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gzip", func(b *testing.B) {
		// Compress once, outside the timer: the store reads the gzip blob
		// as a registry serves it.
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil })
		if err != nil {
			b.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			b.Fatal(err)
		}
		gz, err := io.ReadAll(rc)
		if err != nil {
			b.Fatal(err)
		}
		img := testImage(b, v1cfg(), gz)
		b.ReportMetric(float64(len(gz))/float64(len(layer)), "gzip-ratio")
		b.SetBytes(int64(len(layer)))
		for b.Loop() {
			b.StopTimer()
			s := openStore(b, Options{})
			b.StartTimer()
			if err := s.ensureRoot(context.Background(), img, "bench", nil, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNewRoot measures making one container's root from an unpacked
// image of the same layer (MB/s of image content), the per-pod cost a
// process pod pays before its first process starts.
func BenchmarkNewRoot(b *testing.B) {
	layer := realisticLayer(b)
	s := openStore(b, Options{})
	if err := s.importImage(context.Background(), testImage(b, v1cfg(), layer), "registry.kprobe.test/bench:1"); err != nil {
		b.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 {
		b.Fatal(list, err)
	}
	b.SetBytes(int64(len(layer)))
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "ctr")
		b.StartTimer()
		if err := s.NewRoot(&list[0], dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.RemoveRoot(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
