package podnode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// volumeKind is the kind of a pod volume process pods provide, "" for the
// others.
func volumeKind(v corev1.Volume) string {
	switch {
	case v.EmptyDir != nil:
		return "emptyDir"
	case v.ConfigMap != nil:
		return "configMap"
	case v.Secret != nil:
		return "secret"
	case v.Projected != nil:
		return "projected"
	case v.DownwardAPI != nil:
		return "downwardAPI"
	case v.HostPath != nil:
		return "hostPath"
	case v.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim"
	}
	return ""
}

// podVolumes are a pod's volumes as directories on the sandbox.
type podVolumes struct {
	mu     sync.Mutex
	dirs   map[string]string // volume name -> directory (or file for hostPath files)
	kinds  map[string]string
	tokens map[string]cachedToken // projected token path -> token
}

type cachedToken struct {
	token   string
	issued  time.Time
	expires time.Time
}

// file is one file of a configMap, secret, projected or downwardAPI volume.
type file struct {
	data []byte
	mode os.FileMode
}

// materialize writes every volume of the pod under DATA/pods/<uid>/volumes
// and the pod's /etc/hosts and /etc/resolv.conf.
func materialize(ctx context.Context, r *podRun) (*podVolumes, error) {
	v := &podVolumes{dirs: map[string]string{}, kinds: map[string]string{}, tokens: map[string]cachedToken{}}
	base := filepath.Join(r.dir, "volumes")
	for _, vol := range r.pod.Spec.Volumes {
		kind := volumeKind(vol)
		dir := filepath.Join(base, vol.Name)
		switch kind {
		case "hostPath":
			if err := ensureHostPath(vol.HostPath); err != nil {
				return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			dir = vol.HostPath.Path
		case "persistentVolumeClaim":
			p, err := claimPath(ctx, r, vol.PersistentVolumeClaim.ClaimName)
			if err != nil {
				return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			dir = p
		default:
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return nil, err
			}
			if kind == "emptyDir" {
				_ = os.Chmod(dir, 0o777)
			}
		}
		v.dirs[vol.Name], v.kinds[vol.Name] = dir, kind
	}
	if err := v.refresh(ctx, r); err != nil {
		return nil, err
	}
	if err := writeEtcFiles(r); err != nil {
		return nil, err
	}
	return v, nil
}

// refresh rewrites the volumes whose contents come from the API.
func (v *podVolumes) refresh(ctx context.Context, r *podRun) error {
	r.mu.Lock()
	pod := r.pod.DeepCopy()
	r.mu.Unlock()
	for _, vol := range pod.Spec.Volumes {
		var files map[string]file
		var err error
		switch volumeKind(vol) {
		case "configMap":
			files, err = configMapFiles(ctx, r, vol.ConfigMap.Name, vol.ConfigMap.Items, vol.ConfigMap.DefaultMode, vol.ConfigMap.Optional)
		case "secret":
			files, err = secretFiles(ctx, r, vol.Secret.SecretName, vol.Secret.Items, vol.Secret.DefaultMode, vol.Secret.Optional)
		case "downwardAPI":
			files, err = downwardFiles(pod, r.prov.cfg.nodeIP, vol.DownwardAPI.Items, vol.DownwardAPI.DefaultMode)
		case "projected":
			files, err = v.projectedFiles(ctx, r, pod, vol.Projected)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("volume %q: %w", vol.Name, err)
		}
		if err := writeAtomic(v.dirs[vol.Name], files); err != nil {
			return fmt.Errorf("volume %q: %w", vol.Name, err)
		}
	}
	return nil
}

func mode(m *int32, def os.FileMode) os.FileMode {
	if m != nil {
		return os.FileMode(*m) & 0o777
	}
	return def
}

func selectKeys(data map[string][]byte, items []corev1.KeyToPath, defMode os.FileMode, what string) (map[string]file, error) {
	out := map[string]file{}
	if len(items) == 0 {
		for k, d := range data {
			out[k] = file{d, defMode}
		}
		return out, nil
	}
	for _, it := range items {
		d, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("%s has no key %q", what, it.Key)
		}
		out[it.Path] = file{d, mode(it.Mode, defMode)}
	}
	return out, nil
}

func configMapFiles(ctx context.Context, r *podRun, name string, items []corev1.KeyToPath, defMode *int32, optional *bool) (map[string]file, error) {
	cm, err := r.prov.cfg.client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional != nil && *optional {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("configmap %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, s := range cm.Data {
		data[k] = []byte(s)
	}
	for k, b := range cm.BinaryData {
		data[k] = b
	}
	return selectKeys(data, items, mode(defMode, 0o644), "configmap "+name)
}

func secretFiles(ctx context.Context, r *podRun, name string, items []corev1.KeyToPath, defMode *int32, optional *bool) (map[string]file, error) {
	s, err := r.prov.cfg.client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional != nil && *optional {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return selectKeys(s.Data, items, mode(defMode, 0o644), "secret "+name)
}

// downwardFiles renders downwardAPI items from the pod.
func downwardFiles(pod *corev1.Pod, nodeIP string, items []corev1.DownwardAPIVolumeFile, defMode *int32) (map[string]file, error) {
	out := map[string]file{}
	for _, it := range items {
		var val string
		switch {
		case it.FieldRef != nil:
			v, err := fieldValue(pod, nodeIP, it.FieldRef.FieldPath)
			if err != nil {
				return nil, err
			}
			val = v
		case it.ResourceFieldRef != nil:
			v, err := resourceValue(pod, it.ResourceFieldRef)
			if err != nil {
				return nil, err
			}
			val = v
		}
		out[it.Path] = file{[]byte(val), mode(it.Mode, mode(defMode, 0o644))}
	}
	return out, nil
}

// fieldValue resolves a downward API field path.
func fieldValue(pod *corev1.Pod, nodeIP, fp string) (string, error) {
	mapLines := func(m map[string]string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(k + "=" + strconv.Quote(m[k]))
		}
		return b.String()
	}
	if k, ok := strings.CutPrefix(fp, "metadata.labels['"); ok {
		return pod.Labels[strings.TrimSuffix(k, "']")], nil
	}
	if k, ok := strings.CutPrefix(fp, "metadata.annotations['"); ok {
		return pod.Annotations[strings.TrimSuffix(k, "']")], nil
	}
	switch fp {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return mapLines(pod.Labels), nil
	case "metadata.annotations":
		return mapLines(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.podIP":
		return nodeIP, nil
	}
	return "", fmt.Errorf("downward API field %q is not supported", fp)
}

// resourceValue resolves limits.* / requests.* of a container, in units of
// the divisor (rounded up, as the kubelet does).
func resourceValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector) (string, error) {
	var c *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == ref.ContainerName || (ref.ContainerName == "" && i == 0) {
			c = &pod.Spec.Containers[i]
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
	}
	kind, name, _ := strings.Cut(ref.Resource, ".")
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		// unset limits are the node's capacity, as the kubelet reports
		cap := nodeCapacity("/", 110)
		q = cap[corev1.ResourceName(name)]
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	if name == "cpu" {
		return strconv.FormatInt((q.MilliValue()+div.MilliValue()-1)/div.MilliValue(), 10), nil
	}
	return strconv.FormatInt((q.Value()+div.Value()-1)/div.Value(), 10), nil
}

// projectedFiles renders a projected volume: service account tokens
// (TokenRequest bound to the pod, renewed at 80% of their life),
// configMaps, secrets and downward API items.
func (v *podVolumes) projectedFiles(ctx context.Context, r *podRun, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) (map[string]file, error) {
	out := map[string]file{}
	def := mode(p.DefaultMode, 0o644)
	for _, src := range p.Sources {
		var files map[string]file
		var err error
		switch {
		case src.ServiceAccountToken != nil:
			var tok string
			tok, err = v.token(ctx, r, pod, src.ServiceAccountToken)
			files = map[string]file{src.ServiceAccountToken.Path: {[]byte(tok), def}}
		case src.ConfigMap != nil:
			m := int32(def)
			files, err = configMapFiles(ctx, r, src.ConfigMap.Name, src.ConfigMap.Items, &m, src.ConfigMap.Optional)
		case src.Secret != nil:
			m := int32(def)
			files, err = secretFiles(ctx, r, src.Secret.Name, src.Secret.Items, &m, src.Secret.Optional)
		case src.DownwardAPI != nil:
			m := int32(def)
			files, err = downwardFiles(pod, r.prov.cfg.nodeIP, src.DownwardAPI.Items, &m)
		case src.ClusterTrustBundle != nil, src.PodCertificate != nil:
			err = fmt.Errorf("projected source of this kind is not supported by process pods")
		}
		if err != nil {
			return nil, err
		}
		for k, f := range files {
			out[k] = f
		}
	}
	return out, nil
}

func (v *podVolumes) token(ctx context.Context, r *podRun, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (string, error) {
	v.mu.Lock()
	t, ok := v.tokens[src.Path+"|"+src.Audience]
	v.mu.Unlock()
	if ok && time.Now().Before(t.issued.Add(t.expires.Sub(t.issued)*8/10)) {
		return t.token, nil
	}
	exp := int64(3607)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	resp, err := r.prov.cfg.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for service account %q: %w", sa, err)
	}
	t = cachedToken{token: resp.Status.Token, issued: time.Now(), expires: resp.Status.ExpirationTimestamp.Time}
	v.mu.Lock()
	v.tokens[src.Path+"|"+src.Audience] = t
	v.mu.Unlock()
	return t.token, nil
}

// writeAtomic writes files into dir the way the kubelet's atomic writer
// does: into a new timestamped directory, then a swap of the ..data link,
// so a reader sees the old or the new set, never a mix. Top-level names are
// links into ..data. Unchanged contents are left alone.
func writeAtomic(dir string, files map[string]file) error {
	if same(dir, files) {
		return nil
	}
	ts := "..20" + time.Now().UTC().Format("06_01_02_15_04_05.000000000")
	tsDir := filepath.Join(dir, ts)
	for name, f := range files {
		clean := path.Clean("/" + name)[1:]
		if clean == "" || strings.HasPrefix(clean, "..") || slices.Contains(strings.Split(name, "/"), "..") {
			return fmt.Errorf("invalid file name %q", name)
		}
		p := filepath.Join(tsDir, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return err
		}
		_ = os.Chmod(p, f.mode)
	}
	if err := os.MkdirAll(tsDir, 0o755); err != nil {
		return err
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(ts, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	top := map[string]bool{}
	for name := range files {
		first, _, _ := strings.Cut(path.Clean("/" + name)[1:], "/")
		top[first] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if t, err := os.Readlink(link); err == nil && t == filepath.Join("..data", name) {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			return err
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "..") || top[n] {
			continue
		}
		_ = os.Remove(filepath.Join(dir, n))
	}
	if old != "" && old != ts {
		_ = os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// same reports whether dir/..data holds exactly files.
func same(dir string, files map[string]file) bool {
	data := filepath.Join(dir, "..data")
	if _, err := os.Stat(data); err != nil {
		return false
	}
	n := 0
	err := filepath.WalkDir(data+"/", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(data, p)
		f, ok := files[rel]
		if !ok {
			return fs.ErrNotExist
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.data) {
			return fs.ErrNotExist
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != f.mode {
			return fs.ErrNotExist
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}

// ensureHostPath creates what the hostPath type asks to be created.
func ensureHostPath(h *corev1.HostPathVolumeSource) error {
	t := corev1.HostPathUnset
	if h.Type != nil {
		t = *h.Type
	}
	switch t {
	case corev1.HostPathDirectoryOrCreate:
		return os.MkdirAll(h.Path, 0o755)
	case corev1.HostPathFileOrCreate:
		f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_RDONLY, 0o644)
		if err == nil {
			f.Close()
		}
		return err
	case corev1.HostPathUnset:
		return nil
	}
	if _, err := os.Stat(h.Path); err != nil {
		return fmt.Errorf("hostPath %s: %w", h.Path, err)
	}
	return nil
}

// claimPath resolves a bound claim to the directory of its local or
// hostPath persistent volume.
func claimPath(ctx context.Context, r *podRun, claim string) (string, error) {
	cs := r.prov.cfg.client.CoreV1()
	pvc, err := cs.PersistentVolumeClaims(r.pod.Namespace).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("claim %q is not bound yet", claim)
	}
	pv, err := cs.PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, os.MkdirAll(pv.Spec.HostPath.Path, 0o777)
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, os.MkdirAll(pv.Spec.Local.Path, 0o777)
	}
	return "", fmt.Errorf("persistent volume %q is neither hostPath nor local: process pods cannot attach it", pv.Name)
}

// writeEtcFiles writes the pod's hosts and resolv.conf as the kubelet does
// for a pod (the pod's own address is its loopback mirror: network.go).
func writeEtcFiles(r *podRun) error {
	pod := r.pod
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	host := r.hostname()
	if pod.Spec.Subdomain != "" {
		fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.cluster.local\t%s\n", r.localIP(), host, pod.Spec.Subdomain, pod.Namespace, host)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", r.localIP(), host)
	}
	for _, a := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "\n# Entries added by HostAliases.\n%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
	if err := os.MkdirAll(r.dir, 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.dir, "etc-hosts"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	// The cluster DNS as the kubelet's clusterDNS (network.go).
	resolv := resolvConf(pod, readHostResolv(), r.prov.cfg.clusterDNS, r.prov.cfg.clusterDomain)
	return os.WriteFile(filepath.Join(r.dir, "resolv.conf"), resolv, 0o644)
}

// mountSource is where a volume mount's contents live on the sandbox.
func (c *ctr) mountSource(m corev1.VolumeMount) (string, string, bool) {
	c.r.mu.Lock()
	v := c.r.vols
	c.r.mu.Unlock()
	if v == nil {
		return "", "", false
	}
	dir, ok := v.dirs[m.Name]
	if !ok {
		return "", "", false
	}
	sub := m.SubPath
	if m.SubPathExpr != "" {
		sub = os.Expand(m.SubPathExpr, func(k string) string { return envValue(c.env(), k) })
	}
	if sub != "" {
		p, err := securejoin.SecureJoin(dir, sub)
		if err != nil {
			return "", "", false
		}
		if _, err := os.Lstat(p); err != nil {
			_ = os.MkdirAll(p, 0o777)
		}
		dir = p
	}
	return dir, v.kinds[m.Name], true
}

// mounts are the bind mounts of a container in userns isolation: its
// volumes, then /etc/hosts and /etc/resolv.conf unless it mounts its own.
func (c *ctr) mounts() []bindMount {
	if c.r.prov.cfg.isolation != IsolationUserns {
		return nil
	}
	var out []bindMount
	has := map[string]bool{}
	for _, m := range c.spec.VolumeMounts {
		src, _, ok := c.mountSource(m)
		if !ok {
			continue
		}
		out = append(out, bindMount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly})
		has[path.Clean(m.MountPath)] = true
	}
	for _, f := range []struct{ src, dst string }{{"etc-hosts", "/etc/hosts"}, {"resolv.conf", "/etc/resolv.conf"}} {
		if !has[f.dst] {
			out = append(out, bindMount{Source: filepath.Join(c.r.dir, f.src), Target: f.dst})
		}
	}
	return out
}

// lentVolume is a volume directory moved into a chrooted container's root
// for one run of the container (chroot cannot mount): the path inside the
// root is the volume's own directory, and a symlink at the volume's place
// leads there, so the sandbox and the pods that come later see every
// write. Only directories kprobe made are moved: emptyDirs and claims.
type lentVolume struct{ src, dst string }

// lendVolumes moves the container's writable emptyDir and claim volumes
// into its root (isolation chroot); a volume another running container
// holds, or one that cannot be renamed into the root (another file
// system), stays a copy and the pod gets the event VolumeCopied.
func (c *ctr) lendVolumes() []lentVolume {
	if c.r.prov.cfg.isolation != IsolationChroot {
		return nil
	}
	root := c.root()
	var out []lentVolume
	for _, m := range c.spec.VolumeMounts {
		src, kind, ok := c.mountSource(m)
		if !ok || m.ReadOnly || (kind != "emptyDir" && kind != "persistentVolumeClaim") {
			continue
		}
		dst, err := securejoin.SecureJoin(root, m.MountPath)
		if err != nil || dst == root {
			continue
		}
		if err := lend(src, dst); err != nil {
			c.r.event(corev1.EventTypeNormal, "VolumeCopied", "volume %s is a copy in container %s, not shared: %v", m.Name, c.spec.Name, err)
			continue
		}
		out = append(out, lentVolume{src: src, dst: dst})
	}
	c.mu.Lock()
	c.lent = out
	c.mu.Unlock()
	return out
}

// lend renames the directory src to dst (what the image had at dst is
// removed from the container's own root, as a mount would hide it) and
// leaves a symlink to dst at src.
func lend(src, dst string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("in use by another container (%s is not a directory)", src)
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	if err := os.Symlink(dst, src); err != nil {
		if rerr := os.Rename(dst, src); rerr != nil {
			return fmt.Errorf("%w (and moving it back: %v)", err, rerr)
		}
		return err
	}
	return nil
}

// returnVolumes moves lent volumes back to their places once the
// container's process has exited.
func (c *ctr) returnVolumes(lent []lentVolume) {
	c.mu.Lock()
	c.lent = nil
	c.mu.Unlock()
	for _, l := range lent {
		if to, err := os.Readlink(l.src); err != nil || to != l.dst {
			c.r.event(corev1.EventTypeWarning, "FailedMount", "volume at %s: %s is no longer the link to the container's root; the data stays in %s", l.src, l.src, l.dst)
			continue
		}
		if err := os.Remove(l.src); err == nil {
			err = os.Rename(l.dst, l.src)
			if err != nil {
				c.r.event(corev1.EventTypeWarning, "FailedMount", "moving volume %s back: %v", l.src, err)
			}
		}
	}
}

// syncCopies copies the volumes into the container's root where no mount
// is possible (chroot): configMaps, secrets and the like are copied again
// on every refresh; emptyDirs and claims are lent (lendVolumes), or, when
// another container holds them, a directory of the root itself.
func (c *ctr) syncCopies() {
	if c.r.prov.cfg.isolation != IsolationChroot {
		return
	}
	root := c.root()
	c.mu.Lock()
	lent := map[string]bool{}
	for _, l := range c.lent {
		lent[l.dst] = true
	}
	c.mu.Unlock()
	for _, m := range c.spec.VolumeMounts {
		src, kind, ok := c.mountSource(m)
		if !ok {
			continue
		}
		dst, err := securejoin.SecureJoin(root, m.MountPath)
		if err != nil || lent[dst] {
			continue
		}
		if kind == "emptyDir" {
			_ = os.MkdirAll(dst, 0o777)
			continue
		}
		if err := copyTree(src, dst); err != nil {
			c.r.event(corev1.EventTypeWarning, "FailedMount", "copy of volume %s into the container's root: %v", m.Name, err)
		}
	}
	for _, f := range []struct{ src, dst string }{{"etc-hosts", "/etc/hosts"}, {"resolv.conf", "/etc/resolv.conf"}} {
		if dst, err := securejoin.SecureJoin(root, f.dst); err == nil {
			_ = copyTree(filepath.Join(c.r.dir, f.src), dst)
		}
	}
}

// copyTree makes dst a copy of src (files, directories, links), replacing
// what differs; links are copied as links (relative ones stay inside).
func copyTree(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return copyFile(src, dst, st.Mode().Perm())
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		// the parent is resolved inside dst; the entry itself is replaced,
		// never followed
		parent, err := securejoin.SecureJoin(dst, filepath.Dir(rel))
		if err != nil {
			return err
		}
		target := filepath.Join(parent, filepath.Base(rel))
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if cur, err := os.Readlink(target); err == nil && cur == l {
				return nil
			}
			_ = os.RemoveAll(target)
			return os.Symlink(l, target)
		case d.IsDir():
			if st, err := os.Lstat(target); err == nil && !st.IsDir() {
				_ = os.RemoveAll(target)
			}
			return os.MkdirAll(target, 0o755)
		default:
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(p, target, info.Mode().Perm())
		}
	})
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".kprobe-tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
