package bounded

import (
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
)

// FS serves the files probes read, bounded: regular files up to
// Limit(name) bytes (also when read through Open), directories up to
// DirEntries entries; anything else (a device, a FIFO) is ErrNotRegular.
// Over an os.Root (Dir) no path, symlinks included, leaves the directory.
type FS struct {
	fsys fs.FS
	root *os.Root // set by Dir: opens go through it, without blocking
}

// Wrap bounds fsys (os.DirFS("/") for the live machine).
func Wrap(fsys fs.FS) *FS { return &FS{fsys: fsys} }

// Dir serves the tree under dir (a capture's root/) without following
// any symlink out of it.
func Dir(dir string) (*FS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &FS{fsys: root.FS(), root: root}, nil
}

// Close releases the directory handle of a Dir.
func (f *FS) Close() error {
	if f.root != nil {
		return f.root.Close()
	}
	return nil
}

func (f *FS) open(name string) (fs.File, error) {
	if f.root == nil {
		return f.fsys.Open(name)
	}
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return f.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// Open opens a regular file, whose reads stop with ErrTooLarge past its
// limit, or a directory.
func (f *FS) Open(name string) (fs.File, error) {
	file, err := f.open(name)
	if err != nil {
		return nil, err
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	switch {
	case fi.IsDir():
		if d, ok := file.(fs.ReadDirFile); ok {
			return &boundedDir{ReadDirFile: d, name: name}, nil
		}
		return file, nil
	case !fi.Mode().IsRegular():
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	case fi.Size() > Limit(name):
		file.Close()
		return nil, tooLarge(name, Limit(name))
	}
	return &boundedFile{File: file, name: name, left: Limit(name)}, nil
}

// ReadFile reads a regular file up to Limit(name) bytes.
func (f *FS) ReadFile(name string) ([]byte, error) {
	file, err := f.open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return readRegular(file, name, Limit(name))
}

// ReadDir lists a directory of at most DirEntries entries, sorted.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	d, ok := file.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: syscall.ENOTDIR}
	}
	ents, err := d.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// Stat, Lstat and ReadLink read no content and pass through.
func (f *FS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(f.fsys, name) }

func (f *FS) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(f.fsys, name) }

func (f *FS) ReadLink(name string) (string, error) { return fs.ReadLink(f.fsys, name) }

type boundedFile struct {
	fs.File
	name string
	left int64
}

func (b *boundedFile) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more says whether the file goes on
	}
	n, err := b.File.Read(p)
	if int64(n) > b.left {
		n, b.left = int(b.left), 0
		return n, tooLarge(b.name, Limit(b.name))
	}
	b.left -= int64(n)
	return n, err
}

type boundedDir struct {
	fs.ReadDirFile
	name string
	seen int
}

func (d *boundedDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n > 0 {
		ents, err := d.ReadDirFile.ReadDir(n)
		d.seen += len(ents)
		if d.seen > DirEntries {
			return nil, tooMany(d.name)
		}
		return ents, err
	}
	var all []fs.DirEntry
	for {
		ents, err := d.ReadDirFile.ReadDir(1024)
		all = append(all, ents...)
		d.seen += len(ents)
		if d.seen > DirEntries {
			return nil, tooMany(d.name)
		}
		if err == io.EOF || len(ents) == 0 {
			return all, nil
		}
		if err != nil {
			return all, err
		}
	}
}

func tooMany(name string) error {
	return &fs.PathError{Op: "readdir", Path: name, Err: ErrTooLarge}
}
