package install

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/kprobe/kprobe/adapters/download"
)

// Versions pin what `kprobe install kubernetes` fetches. Each is the
// release tag its project publishes.
type Versions struct {
	Kubernetes, Etcd, Containerd, Runc, CNI, Helm string
	// Images is the kprobe release whose image archives (pause, busybox,
	// CoreDNS, local-path-provisioner) are fetched: no upstream project
	// publishes these as archives.
	Images string
}

// DefaultVersions are the releases kprobe's launcher is built against:
// Kubernetes and helm as hack/engine and hack/helm pin them.
var DefaultVersions = Versions{
	Kubernetes: "v1.37.2",
	Etcd:       "v3.6.5",
	Containerd: "v2.1.4",
	Runc:       "v1.3.3",
	CNI:        "v1.8.0",
	Helm:       "v3.22.0",
	Images:     "v0.1.0",
}

// The upstream release sites, HTTPS. A mirror holds the same paths under
// <mirror>/<host>/.
const (
	kubernetesSite = "https://dl.k8s.io/release"
	githubSite     = "https://github.com"
	helmSite       = "https://get.helm.sh"
)

// KubernetesComponents are the Kubernetes release binaries installed.
var KubernetesComponents = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// ImageArchives are the archives in the images release asset, installed
// into <dir>/images.
var ImageArchives = []string{"pause.tar", "busybox.tar", "coredns.tar", "local-path-provisioner.tar"}

// KubernetesOptions choose what `install kubernetes` fetches and where.
type KubernetesOptions struct {
	Versions Versions
	// Dir is the install directory; default EngineDir().
	Dir string
	// Mirror, when set, is one HTTPS server holding every artifact (and
	// its checksum file) under <Mirror>/<upstream host>/<upstream path>.
	Mirror string
	// Arch is a GOARCH (amd64 or arm64); default runtime.GOARCH.
	Arch string
	// Cache keeps the downloads; its Client does them.
	Cache *download.Cache
}

// Artifact is one file a project publishes and what is installed from it.
type Artifact struct {
	Name string // project, for progress and errors
	URL  string // the file
	// SumsURL is the checksum file the project publishes beside it;
	// SumName is the file's entry there ("" for a bare digest).
	SumsURL, SumName string
	// Files maps a member of the archive (or "" for the file itself) to
	// its path under the install dir; a member ending in "/*" takes every
	// regular file of that directory into the destination directory.
	Files map[string]string
	// Exec marks the installed files executable (checked to be ELF).
	Exec bool
}

var tagRe = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$`)

// Artifacts lists what `install kubernetes` fetches for v on arch, at the
// upstream sites' URLs.
func Artifacts(v Versions, arch string) ([]Artifact, error) {
	if arch != "amd64" && arch != "arm64" {
		return nil, inputErrorf("kprobe installs Kubernetes for amd64 and arm64, not %q", arch)
	}
	for name, tag := range map[string]string{"kubernetes": v.Kubernetes, "etcd": v.Etcd, "containerd": v.Containerd,
		"runc": v.Runc, "cni": v.CNI, "helm": v.Helm, "images": v.Images} {
		if !tagRe.MatchString(tag) {
			return nil, inputErrorf("--%s-version %q is not a release tag such as v1.2.3", name, tag)
		}
	}
	if !strings.HasPrefix(v.Kubernetes, "v1.") {
		return nil, inputErrorf("--version %q is not a Kubernetes release (v1.x.y)", v.Kubernetes)
	}
	var arts []Artifact
	for _, c := range KubernetesComponents {
		u := fmt.Sprintf("%s/%s/bin/linux/%s/%s", kubernetesSite, v.Kubernetes, arch, c)
		arts = append(arts, Artifact{Name: c, URL: u, SumsURL: u + ".sha256", Files: map[string]string{"": c}, Exec: true})
	}
	gh := func(repo, tag, file string) string {
		return fmt.Sprintf("%s/%s/releases/download/%s/%s", githubSite, repo, tag, file)
	}
	etcd := fmt.Sprintf("etcd-%s-linux-%s", v.Etcd, arch)
	cd := fmt.Sprintf("containerd-%s-linux-%s.tar.gz", strings.TrimPrefix(v.Containerd, "v"), arch)
	cni := fmt.Sprintf("cni-plugins-linux-%s-%s.tgz", arch, v.CNI)
	helm := fmt.Sprintf("helm-%s-linux-%s.tar.gz", v.Helm, arch)
	images := fmt.Sprintf("kprobe-images-linux-%s.tar", arch)
	arts = append(arts,
		Artifact{Name: "etcd", URL: gh("etcd-io/etcd", v.Etcd, etcd+".tar.gz"), SumsURL: gh("etcd-io/etcd", v.Etcd, "SHA256SUMS"),
			SumName: etcd + ".tar.gz", Files: map[string]string{etcd + "/etcd": "etcd"}, Exec: true},
		Artifact{Name: "containerd", URL: gh("containerd/containerd", v.Containerd, cd), SumsURL: gh("containerd/containerd", v.Containerd, cd+".sha256sum"),
			SumName: cd, Files: map[string]string{"bin/containerd": "containerd", "bin/containerd-shim-runc-v2": "containerd-shim-runc-v2", "bin/ctr": "ctr"}, Exec: true},
		Artifact{Name: "runc", URL: gh("opencontainers/runc", v.Runc, "runc."+arch), SumsURL: gh("opencontainers/runc", v.Runc, "runc.sha256sum"),
			SumName: "runc." + arch, Files: map[string]string{"": "runc"}, Exec: true},
		Artifact{Name: "cni-plugins", URL: gh("containernetworking/plugins", v.CNI, cni), SumsURL: gh("containernetworking/plugins", v.CNI, cni+".sha256"),
			SumName: cni, Files: map[string]string{"./*": "cni"}, Exec: true},
		Artifact{Name: "helm", URL: helmSite + "/" + helm, SumsURL: helmSite + "/" + helm + ".sha256sum",
			SumName: helm, Files: map[string]string{"linux-" + arch + "/helm": "helm"}, Exec: true},
		Artifact{Name: "images", URL: gh("kprobe/kprobe", v.Images, images), SumsURL: gh("kprobe/kprobe", v.Images, "SHA256SUMS"),
			SumName: images, Files: map[string]string{"./*": "images"}},
	)
	return arts, nil
}

// Mirrored rewrites an upstream URL to <mirror>/<host><path>.
func Mirrored(mirror, upstream string) string {
	rest := strings.TrimPrefix(upstream, "https://")
	return strings.TrimRight(mirror, "/") + "/" + rest
}

// EngineDir is where `install kubernetes` puts the engine by default and
// where launch looks for it: $XDG_DATA_HOME/kprobe/engine, else
// ~/.local/share/kprobe/engine. It needs no root.
func EngineDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "kprobe", "engine"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no data dir: set XDG_DATA_HOME or pass --bin-dir (%w)", err)
	}
	return filepath.Join(home, ".local", "share", "kprobe", "engine"), nil
}

// InstallKubernetes downloads (or takes from the cache) every artifact,
// verifies each against its project's checksum file, and installs the
// binaries into o.Dir (CNI plugins into o.Dir/cni, image archives into
// o.Dir/images). It returns the install dir.
func InstallKubernetes(ctx context.Context, o KubernetesOptions) (string, error) {
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	if o.Dir == "" {
		d, err := EngineDir()
		if err != nil {
			return "", err
		}
		o.Dir = d
	}
	if o.Mirror != "" {
		u, err := download.CheckURL("--mirror", o.Mirror, false)
		if err != nil {
			return "", err
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return "", inputErrorf("--mirror %s: give the mirror's base URL, without a query", o.Mirror)
		}
	}
	arts, err := Artifacts(o.Versions, o.Arch)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", fmt.Errorf("create install dir: %w", err)
	}
	for _, a := range arts {
		if err := o.install(ctx, a); err != nil {
			return "", err
		}
	}
	for _, n := range ImageArchives {
		if _, err := os.Stat(filepath.Join(o.Dir, "images", n)); err != nil {
			return "", fmt.Errorf("the images release %s has no %s", o.Versions.Images, n)
		}
	}
	return o.Dir, nil
}

func (o KubernetesOptions) install(ctx context.Context, a Artifact) error {
	url, sumsURL := a.URL, a.SumsURL
	if o.Mirror != "" {
		url, sumsURL = Mirrored(o.Mirror, url), Mirrored(o.Mirror, sumsURL)
	}
	client := o.Cache.Client
	if client == nil {
		client = download.HTTPSOnly(nil, false)
	}
	sums, err := download.Sums(ctx, client, sumsURL, func() error {
		return inputErrorf("%s: 404 Not Found; is the version right, and does the mirror hold this release?", sumsURL)
	})
	if err != nil {
		return err
	}
	var names []string
	if a.SumName != "" {
		names = append(names, a.SumName)
	}
	want, err := download.LookupSum(sums, names...)
	if err != nil {
		return fmt.Errorf("%s: %w", sumsURL, err)
	}
	cached, err := o.Cache.Fetch(ctx, url, want, a.Name)
	if err != nil {
		return err
	}
	if err := o.unpack(a, cached); err != nil {
		return fmt.Errorf("%s (%s): %w", a.Name, path.Base(url), err)
	}
	return nil
}

// maxMember bounds one file taken out of an archive.
const maxMember = 2 << 30

// unpack installs a's files from the verified file at src.
func (o KubernetesOptions) unpack(a Artifact, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if dest, ok := a.Files[""]; ok {
		return o.place(a, filepath.Join(o.Dir, dest), f)
	}
	var r io.Reader = f
	if strings.HasSuffix(a.URL, "gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	}
	tr := tar.NewReader(r)
	found := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		dest := ""
		for member, d := range a.Files {
			switch {
			case strings.HasSuffix(member, "/*"):
				dir := strings.TrimPrefix(strings.TrimSuffix(member, "/*"), ".")
				dir = strings.TrimPrefix(dir, "/")
				if path.Dir(name) == path.Clean("./"+dir) || (dir == "" && !strings.Contains(name, "/")) {
					dest = filepath.Join(d, path.Base(name))
					found[member] = true
				}
			case path.Clean(member) == name:
				dest = d
				found[member] = true
			}
		}
		if dest == "" {
			continue
		}
		if h.Size > maxMember {
			return fmt.Errorf("%s is %d bytes, more than kprobe takes from an archive", h.Name, h.Size)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(o.Dir, dest)), 0o755); err != nil {
			return err
		}
		if err := o.place(a, filepath.Join(o.Dir, dest), io.LimitReader(tr, h.Size)); err != nil {
			return err
		}
	}
	for member := range a.Files {
		if !found[member] {
			return fmt.Errorf("the archive has no %s", member)
		}
	}
	return nil
}

// place writes r to dest atomically: ELF-checked and 0755 for binaries,
// 0644 otherwise.
func (o KubernetesOptions) place(a Artifact, dest string, r io.Reader) error {
	fill := func(w io.Writer) error { _, err := io.Copy(w, r); return err }
	if a.Exec {
		return writeAtomic(dest, "", o.Arch, fill, nil)
	}
	return writeFileAtomic(dest, fill)
}

// writeFileAtomic writes a data file (mode 0644) under a temporary name
// and renames it over dest.
func writeFileAtomic(dest string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dest)
}

// HTTPClient is the client an install uses by default.
func HTTPClient(caFile string) (*http.Client, error) {
	return download.NewClient(download.ClientOptions{CAFile: caFile})
}
