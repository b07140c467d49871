package bounded

import (
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// procFile is a /proc file: its size says 0, its content goes on.
type procFile struct {
	fs.File
	r io.Reader
}

func (p procFile) Read(b []byte) (int, error) { return p.r.Read(b) }

func TestReadAllStopsAtTheLimit(t *testing.T) {
	if _, err := ReadAll(zeros{}, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("an endless stream: err = %v, want ErrTooLarge", err)
	}
	if b, err := ReadAll(strings.NewReader("12345"), 5); err != nil || string(b) != "12345" {
		t.Errorf("exactly the limit: %q, %v", b, err)
	}
}

func TestFSLimitsByKind(t *testing.T) {
	fsys := Wrap(fstest.MapFS{
		"proc/self/mountinfo": {Data: make([]byte, 2<<20)},
		"proc/cpuinfo":        {Data: make([]byte, 2<<20)},
		"proc/version":        {Data: []byte("Linux version 6.1\n")},
	})
	if _, err := fsys.ReadFile("proc/self/mountinfo"); err != nil {
		t.Errorf("a 2 MiB mountinfo is within its limit: %v", err)
	}
	if _, err := fsys.ReadFile("proc/cpuinfo"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a 2 MiB cpuinfo: err = %v, want ErrTooLarge", err)
	}
	if _, err := fsys.Open("proc/cpuinfo"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Open of a 2 MiB cpuinfo: err = %v, want ErrTooLarge", err)
	}
	if b, err := fs.ReadFile(fsys, "proc/version"); err != nil || string(b) != "Linux version 6.1\n" {
		t.Errorf("proc/version = %q, %v", b, err)
	}
}

func TestOpenedFileStopsAtTheLimit(t *testing.T) {
	f := &boundedFile{File: procFile{r: zeros{}}, name: "proc/cpuinfo", left: KernelFile}
	if _, err := io.ReadAll(f); !errors.Is(err, ErrTooLarge) {
		t.Errorf("an endless /proc file read through Open: err = %v, want ErrTooLarge", err)
	}
	f = &boundedFile{File: procFile{r: strings.NewReader("abc")}, name: "proc/x", left: 3}
	if b, err := io.ReadAll(f); err != nil || string(b) != "abc" {
		t.Errorf("a file of exactly the limit: %q, %v", b, err)
	}
}
