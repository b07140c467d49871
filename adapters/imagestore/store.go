package imagestore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
)

// Defaults for the bounds on untrusted image content.
const (
	DefaultMaxImageBytes = 16 << 30 // uncompressed bytes of all layers of one image
	DefaultMaxEntries    = 2 << 20  // tar entries of all layers of one image
)

// Options configure a Store.
type Options struct {
	Dir                string   // blobs + unpacked roots, e.g. <data-dir>/images
	CABundle           string   // extra PEM roots for registries and proxies: a file path, or the PEM text itself
	DockerConfig       string   // docker config.json for credentials; "" = $DOCKER_CONFIG or ~/.docker/config.json
	InsecureRegistries []string // host:port allowed over plain HTTP

	// MaxImageBytes bounds the uncompressed size of one image (all layers,
	// tar headers included); 0 means DefaultMaxImageBytes.
	MaxImageBytes int64
	// MaxEntries bounds the number of tar entries of one image; 0 means
	// DefaultMaxEntries.
	MaxEntries int64
}

// Store is an image store in one directory. It is safe for concurrent use,
// and several processes may share a directory: a root is published by an
// atomic rename, so the first complete unpack wins.
type Store struct {
	o        Options
	extraCAs []byte
	tr       http.RoundTripper
	unpacks  singleflight.Group
}

// Image is an image present in the store.
type Image struct {
	Ref    string    // the reference as given
	Digest string    // manifest digest
	Root   string    // read-only unpacked root filesystem, shared by every container of this image
	Config v1.Config // Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts

	ID string // config digest: the key of Root, the same for a pulled and a loaded copy
	// Unkept lists what the unpack could not reproduce as the layers say:
	// ownership where chown was refused (the process is not root, or the
	// ID is outside its user namespace), device nodes where mknod was
	// refused. nil when everything was kept. Runtimes that map IDs (a user
	// namespace) or fake them read ownership from here.
	Unkept *Unkept
}

// Unkept records the parts of an image the unpack could not apply.
type Unkept struct {
	// Owners maps a path inside the root ("/etc/shadow") to the uid and
	// gid the layer gave it, where chown to them failed; the file is owned
	// by the unpacking user instead.
	Owners map[string][2]int `json:"owners,omitempty"`
	// Devices lists device nodes that mknod refused; they are absent.
	Devices []string `json:"devices,omitempty"`
	// Modes maps a path to its mode as the layer gave it, where the store
	// added owner read (and, for directories, search) permission so that
	// a non-root user can copy the root.
	Modes map[string]fs.FileMode `json:"modes,omitempty"`
}

func (u *Unkept) empty() bool {
	return u == nil || len(u.Owners) == 0 && len(u.Devices) == 0 && len(u.Modes) == 0
}

// Pull error reasons, the kubelet's event reasons.
const (
	ReasonErrImagePull      = "ErrImagePull"
	ReasonErrImageNeverPull = "ErrImageNeverPull"
	ReasonInvalidImageName  = "InvalidImageName"
	ReasonImageInspectError = "ImageInspectError"
)

// PullError is the error of Ensure: Reason is the kubelet's event reason,
// Err the real cause.
type PullError struct {
	Reason string
	Err    error
}

func (e *PullError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *PullError) Unwrap() error { return e.Err }

func pullErr(reason string, err error) error {
	var pe *PullError
	if errors.As(err, &pe) {
		return err
	}
	return &PullError{Reason: reason, Err: err}
}

// Open opens (creating it if needed) the store in o.Dir and removes
// unpacks that a dead process left in tmp/.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("imagestore: Options.Dir is empty")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	o.Dir = dir
	if o.MaxImageBytes <= 0 {
		o.MaxImageBytes = DefaultMaxImageBytes
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	s := &Store{o: o}
	if o.CABundle != "" {
		pem := []byte(o.CABundle)
		if !strings.Contains(o.CABundle, "-----BEGIN") {
			if pem, err = os.ReadFile(o.CABundle); err != nil {
				return nil, fmt.Errorf("imagestore: CA bundle: %w", err)
			}
		}
		s.extraCAs = pem
	}
	if s.tr, err = newTransport(s.extraCAs); err != nil {
		return nil, err
	}
	for _, d := range []string{"roots", "images", "refs", "made", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	s.cleanTmp()
	return s, nil
}

// record is what refs/*.json holds.
type record struct {
	Ref    string `json:"ref"`    // as given the last time
	Name   string `json:"name"`   // normalized
	Digest string `json:"digest"` // manifest digest
	ID     string `json:"id"`     // config digest
}

// imageMeta is what images/*.json holds.
type imageMeta struct {
	ID     string        `json:"id"`
	Config v1.ConfigFile `json:"config"`
	Size   int64         `json:"size"` // uncompressed bytes unpacked
	Unkept *Unkept       `json:"unkept,omitempty"`
}

func idName(id string) string { return strings.ReplaceAll(id, ":", "-") }

func (s *Store) rootPath(id string) string {
	return filepath.Join(s.o.Dir, "roots", idName(id))
}

func (s *Store) metaPath(id string) string {
	return filepath.Join(s.o.Dir, "images", idName(id)+".json")
}

func (s *Store) refPath(normalized string) string {
	sum := sha256.Sum256([]byte(normalized))
	return filepath.Join(s.o.Dir, "refs", hex.EncodeToString(sum[:])+".json")
}

// lookup returns the stored image of a normalized reference, or nil when
// there is none (or its root is gone).
func (s *Store) lookup(normalized, given string) (*Image, error) {
	var r record
	if err := readJSON(s.refPath(normalized), &r); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	img, err := s.image(r.ID)
	if err != nil || img == nil {
		return nil, err
	}
	img.Ref, img.Digest = given, r.Digest
	return img, nil
}

// image returns the image whose root is keyed by id, or nil when absent.
func (s *Store) image(id string) (*Image, error) {
	root := s.rootPath(id)
	if _, err := os.Lstat(root); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var m imageMeta
	if err := readJSON(s.metaPath(id), &m); err != nil {
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	img := &Image{ID: id, Root: root, Config: m.Config.Config}
	if !m.Unkept.empty() {
		img.Unkept = m.Unkept
	}
	return img, nil
}

func (s *Store) saveRef(ref name.Reference, given, digest, id string) error {
	return writeJSON(s.o.Dir, s.refPath(ref.Name()), record{Ref: given, Name: ref.Name(), Digest: digest, ID: id})
}

// List returns every reference in the store with its image, sorted by
// reference. Ref is the reference as last given to Ensure or Load.
func (s *Store) List() ([]Image, error) {
	ents, err := os.ReadDir(filepath.Join(s.o.Dir, "refs"))
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var r record
		if err := readJSON(filepath.Join(s.o.Dir, "refs", e.Name()), &r); err != nil {
			return nil, err
		}
		img, err := s.image(r.ID)
		if err != nil {
			return nil, err
		}
		if img == nil {
			continue
		}
		img.Ref, img.Digest = r.Ref, r.Digest
		out = append(out, *img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// parseRef parses ref the way the kubelet's runtime does (short names are
// Docker Hub's), allowing plain HTTP for the configured insecure registries.
func (s *Store) parseRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	for _, h := range s.o.InsecureRegistries {
		if h == r.Context().RegistryStr() {
			return name.ParseReference(ref, name.Insecure)
		}
	}
	return r, nil
}

// defaultPolicy is the API server's default: Always for :latest or no tag.
func defaultPolicy(ref name.Reference) corev1.PullPolicy {
	if t, ok := ref.(name.Tag); ok && t.TagStr() == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// Ensure makes ref present in the store according to policy and returns
// it. pullSecrets are the raw .dockerconfigjson (or legacy .dockercfg)
// bytes of the pod's imagePullSecrets; they are tried before the docker
// config. p, if not nil, is called as layers download. Errors are
// *PullError. Concurrent Ensures of one image download and unpack it once.
func (s *Store) Ensure(ctx context.Context, ref string, policy corev1.PullPolicy, pullSecrets [][]byte, p Progress) (*Image, error) {
	r, err := s.parseRef(ref)
	if err != nil {
		return nil, &PullError{Reason: ReasonInvalidImageName, Err: err}
	}
	if policy == "" {
		policy = defaultPolicy(r)
	}
	local, err := s.lookup(r.Name(), ref)
	if err != nil {
		return nil, &PullError{Reason: ReasonImageInspectError, Err: err}
	}
	switch policy {
	case corev1.PullNever:
		if local == nil {
			return nil, &PullError{Reason: ReasonErrImageNeverPull, Err: fmt.Errorf("image %q is not present and the pull policy is Never", ref)}
		}
		return local, nil
	case corev1.PullIfNotPresent:
		if local != nil {
			return local, nil
		}
	case corev1.PullAlways:
	default:
		return nil, &PullError{Reason: ReasonErrImagePull, Err: fmt.Errorf("unknown pull policy %q", policy)}
	}
	img, err := s.pull(ctx, r, ref, local, pullSecrets, p)
	if err != nil {
		return nil, pullErr(ReasonErrImagePull, err)
	}
	return img, nil
}

// Progress reports a pull: done of total compressed bytes of the layers
// being downloaded.
type Progress func(ref string, done, total int64)

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeJSON writes v to path atomically (a temporary file in the store's
// tmp/ renamed over path).
func writeJSON(storeDir, path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(storeDir, "tmp"), "json-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// tmpDir makes a directory in tmp/ named after this process, so that
// cleanTmp can tell abandoned unpacks from running ones.
func (s *Store) tmpDir(kind string) (string, error) {
	var b [6]byte
	rand.Read(b[:])
	d := filepath.Join(s.o.Dir, "tmp", fmt.Sprintf("%s-%d-%s", kind, os.Getpid(), hex.EncodeToString(b[:])))
	return d, os.Mkdir(d, 0o700)
}

// cleanTmp removes tmp/ entries of processes that no longer run.
func (s *Store) cleanTmp() {
	ents, _ := os.ReadDir(filepath.Join(s.o.Dir, "tmp"))
	for _, e := range ents {
		parts := strings.Split(e.Name(), "-")
		if len(parts) != 3 {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(parts[1], "%d", &pid); err != nil || processAlive(pid) {
			continue
		}
		removeTree(filepath.Join(s.o.Dir, "tmp", e.Name()))
	}
}
