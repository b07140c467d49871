package imagestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/net/http/httpproxy"

	"github.com/kprobe/kprobe/adapters/download"
)

// newTransport is remote's default transport with the proxy settings of
// the environment (read now, not cached for the process as
// http.ProxyFromEnvironment does) and the store's extra CA roots.
func newTransport(extraCAs []byte) (http.RoundTripper, error) {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	t.Proxy = func(req *http.Request) (*url.URL, error) { return proxy(req.URL) }
	if len(extraCAs) > 0 {
		cfg, err := download.TLSConfig(extraCAs)
		if err != nil {
			return nil, fmt.Errorf("imagestore: %w", err)
		}
		t.TLSClientConfig = cfg
	}
	return t, nil
}

// authenticators lists the credentials to try for ref, in the kubelet's
// order: the pod's pull secrets that match the registry, then the docker
// config, then anonymous access.
func (s *Store) authenticators(ref name.Reference, pullSecrets [][]byte) ([]authn.Authenticator, error) {
	var out []authn.Authenticator
	for i, b := range pullSecrets {
		auths, err := parseDockerConfigJSON(b)
		if err != nil {
			return nil, fmt.Errorf("image pull secret %d: %w", i, err)
		}
		for key, cfg := range auths {
			if matchesRegistry(key, ref.Context()) {
				out = append(out, authn.FromConfig(cfg))
			}
		}
	}
	a, err := s.dockerConfigAuth(ref.Context())
	if err != nil {
		return nil, fmt.Errorf("docker config: %w", err)
	}
	if a != authn.Anonymous {
		out = append(out, a)
	}
	return append(out, authn.Anonymous), nil
}

// dockerConfigAuth resolves the node's credentials for repo from
// Options.DockerConfig, or from the default locations when it is "".
// Credential helpers named there run, as docker would run them.
func (s *Store) dockerConfigAuth(repo name.Repository) (authn.Authenticator, error) {
	if s.o.DockerConfig == "" {
		return authn.DefaultKeychain.Resolve(repo)
	}
	f, err := os.Open(s.o.DockerConfig)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return authn.Anonymous, nil
		}
		return nil, err
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		return nil, err
	}
	for _, key := range []string{repo.String(), repo.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		c, err := cf.GetAuthConfig(key)
		if err != nil {
			return nil, err
		}
		cfg := authn.AuthConfig{Username: c.Username, Password: c.Password, Auth: c.Auth, IdentityToken: c.IdentityToken, RegistryToken: c.RegistryToken}
		if cfg != (authn.AuthConfig{}) {
			return authn.FromConfig(cfg), nil
		}
	}
	return authn.Anonymous, nil
}

// maxSecretBytes bounds one pull secret (the API server bounds a Secret to
// 1 MiB).
const maxSecretBytes = 1 << 20

// parseDockerConfigJSON reads a .dockerconfigjson ({"auths": {...}}) or a
// legacy .dockercfg (the auths map alone). It never runs credential
// helpers: a pull secret is the pod author's input.
func parseDockerConfigJSON(b []byte) (map[string]authn.AuthConfig, error) {
	if len(b) > maxSecretBytes {
		return nil, fmt.Errorf("%d bytes, more than %d", len(b), maxSecretBytes)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, err
	}
	raw, ok := top["auths"]
	if !ok {
		raw = b
	}
	var auths map[string]authn.AuthConfig
	if err := json.Unmarshal(raw, &auths); err != nil {
		return nil, err
	}
	return auths, nil
}

// matchesRegistry tells whether a docker config key ("host:port",
// "https://host/v1/", "*.host", "host/team") applies to repo, the way the
// kubelet's credential provider matches them: glob per host label, equal
// ports, and a path prefix of the repository when the key has a path.
func matchesRegistry(key string, repo name.Repository) bool {
	k := key
	if !strings.Contains(k, "://") {
		k = "https://" + k
	}
	u, err := url.Parse(k)
	if err != nil || u.Host == "" {
		return false
	}
	keyHost := u.Host
	if !strings.Contains(keyHost, "*") {
		if reg, err := name.NewRegistry(keyHost); err == nil {
			keyHost = reg.RegistryStr() // the same alias normalization as references
		}
	}
	host := repo.RegistryStr()
	kh, kp := splitPort(keyHost)
	rh, rp := splitPort(host)
	if kp != rp {
		return false
	}
	kl, rl := strings.Split(kh, "."), strings.Split(rh, ".")
	if len(kl) != len(rl) {
		return false
	}
	for i := range kl {
		if ok, _ := path.Match(kl[i], rl[i]); !ok {
			return false
		}
	}
	p := strings.Trim(u.Path, "/")
	if p == "" || p == "v1" || p == "v2" {
		return true
	}
	r := repo.RepositoryStr()
	return r == p || strings.HasPrefix(r, p+"/")
}

func splitPort(host string) (string, string) {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		return host[:i], host[i+1:]
	}
	return host, ""
}

func isAuthError(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden)
}

// pull fetches ref's manifest with the first credentials the registry
// accepts, and its layers unless the image (by config digest) is already
// unpacked. local is the stored image of ref, if any: when the registry
// still serves the same digest, it is returned as is.
func (s *Store) pull(ctx context.Context, ref name.Reference, given string, local *Image, pullSecrets [][]byte, p Progress) (*Image, error) {
	auths, err := s.authenticators(ref, pullSecrets)
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(s.tr),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
		remote.WithRetryBackoff(remote.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Steps: 3}),
	}
	var desc *remote.Descriptor
	for _, a := range auths {
		desc, err = remote.Get(ref, append(opts, remote.WithAuth(a))...)
		if err == nil {
			break // desc fetches the image with the auth that worked
		}
		if !isAuthError(err) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	digest := desc.Digest.String()
	if local != nil && local.Digest == digest {
		return local, nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	if err := s.ensureRoot(ctx, img, given, p, true); err != nil {
		return nil, err
	}
	return s.publishRef(ref, given, digest, img)
}

// publishRef records ref -> (digest, image ID) and returns the image.
func (s *Store) publishRef(ref name.Reference, given, digest string, img v1.Image) (*Image, error) {
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	if err := s.saveRef(ref, given, digest, id.String()); err != nil {
		return nil, err
	}
	out, err := s.image(id.String())
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("image %s vanished from the store", id)
	}
	out.Ref, out.Digest = given, digest
	return out, nil
}
