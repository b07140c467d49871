// Package mirrortest builds, for tests, a release mirror laid out like the
// upstream sites `kprobe install kubernetes` reads (<root>/<host>/<path>),
// with the projects' real file names, archive layouts and checksum files,
// packed from local files; and serves it over real HTTPS on loopback.
package mirrortest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kprobe/kprobe/adapters/download"
	"github.com/kprobe/kprobe/adapters/install"
)

// Build writes the mirror of v for arch under root. src maps each path
// the install puts under its dir ("kubelet", "cni/bridge",
// "images/pause.tar") to the local file packed for it; every artifact's
// files must be given.
func Build(root string, v install.Versions, arch string, src map[string]string) error {
	arts, err := install.Artifacts(v, arch)
	if err != nil {
		return err
	}
	sums := map[string][]string{} // checksum file -> lines
	for _, a := range arts {
		file := local(root, a.URL)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		if dest, ok := a.Files[""]; ok {
			s, ok := src[dest]
			if !ok {
				return fmt.Errorf("no source for %s", dest)
			}
			if err := os.Symlink(s, file); err != nil {
				return err
			}
		} else if err := pack(file, a, src); err != nil {
			return fmt.Errorf("%s: %w", a.Name, err)
		}
		d, err := download.FileSHA256(file)
		if err != nil {
			return err
		}
		line := d + "\n"
		if a.SumName != "" {
			line = d + "  " + a.SumName + "\n"
		}
		sums[a.SumsURL] = append(sums[a.SumsURL], line)
	}
	for u, lines := range sums {
		if len(lines) > 1 || strings.HasSuffix(u, "SHA256SUMS") {
			// A release-wide file lists other assets too.
			lines = append([]string{strings.Repeat("0", 64) + "  other-asset-linux-s390x.tar.gz\n"}, lines...)
		}
		if err := os.WriteFile(local(root, u), []byte(strings.Join(lines, "")), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// FakeSources writes into dir, for every path the install puts under its
// dir, a small amd64 ELF file (for images, a data file) named after it,
// and returns them as Build's src.
func FakeSources(dir string) (map[string]string, error) {
	src := map[string]string{}
	add := func(dest string, body []byte) error {
		p := filepath.Join(dir, strings.ReplaceAll(dest, "/", "_"))
		src[dest] = p
		return os.WriteFile(p, body, 0o755)
	}
	elf := []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00")
	for _, c := range append(install.KubernetesComponents, "etcd", "containerd", "containerd-shim-runc-v2", "ctr", "runc", "helm",
		"cni/bridge", "cni/host-local", "cni/loopback", "cni/portmap") {
		if err := add(c, append(append([]byte(nil), elf...), bytes.Repeat([]byte(c), 50000)...)); err != nil {
			return nil, err
		}
	}
	for _, n := range install.ImageArchives {
		if err := add("images/"+n, []byte("archive "+n)); err != nil {
			return nil, err
		}
	}
	return src, nil
}

// Local is where an upstream URL's file is in the mirror at root.
func Local(root, upstream string) string { return local(root, upstream) }

func local(root, upstream string) string {
	return filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(upstream, "https://")))
}

// pack writes a's archive with the members its Files name.
func pack(file string, a install.Artifact, src map[string]string) error {
	type member struct{ name, src string }
	var members []member
	for m, dest := range a.Files {
		if dir, ok := strings.CutSuffix(m, "/*"); ok {
			var names []string
			for k := range src {
				if path.Dir(k) == dest {
					names = append(names, path.Base(k))
				}
			}
			if len(names) == 0 {
				return fmt.Errorf("no sources under %s/", dest)
			}
			sort.Strings(names)
			for _, n := range names {
				members = append(members, member{dir + "/" + n, src[dest+"/"+n]})
			}
			continue
		}
		s, ok := src[dest]
		if !ok {
			return fmt.Errorf("no source for %s", dest)
		}
		members = append(members, member{m, s})
	}
	sort.Slice(members, func(i, j int) bool { return members[i].name < members[j].name })
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var w io.Writer = f
	var gz *gzip.Writer
	if strings.HasSuffix(file, "gz") {
		gz, _ = gzip.NewWriterLevel(f, gzip.BestSpeed)
		w = gz
	}
	tw := tar.NewWriter(w)
	for _, m := range members {
		s, err := os.Open(m.src)
		if err != nil {
			return err
		}
		fi, err := s.Stat()
		if err != nil {
			s.Close()
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), Typeflag: tar.TypeReg, ModTime: fi.ModTime()}); err != nil {
			s.Close()
			return err
		}
		_, err = io.Copy(tw, s)
		s.Close()
		if err != nil {
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
	return f.Close()
}

// Server is a real HTTPS server on loopback serving a mirror directory
// (Range requests included, as http.FileServer answers them).
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	// CutAfter, when set for a path, makes the next response for it
	// stop after that many bytes (the connection closes mid-body).
	cutAfter map[string]int64
}

// Serve serves root over HTTPS on 127.0.0.1.
func Serve(root string) *Server {
	s := &Server{cutAfter: map[string]int64{}}
	fs := http.FileServer(http.Dir(root))
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.Path+" range="+r.Header.Get("Range"))
		cut, ok := s.cutAfter[r.URL.Path]
		delete(s.cutAfter, r.URL.Path)
		s.mu.Unlock()
		if ok {
			fs.ServeHTTP(&cutWriter{ResponseWriter: w, left: cut}, r)
			panic(http.ErrAbortHandler) // close the connection mid-body
		}
		fs.ServeHTTP(w, r)
	}))
	return s
}

// CutNext makes the next response for the URL path p break off after n
// body bytes.
func (s *Server) CutNext(p string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cutAfter[p] = n
}

// Requests are "<path> range=<Range header>" of every request so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.ErrClosedPipe
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ResponseWriter.Write(p)
	c.left -= int64(n)
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}
