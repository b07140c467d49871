package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/homedir"
)

// DefaultClusterName names a cluster launched without --name; its
// kubeconfig entries are kprobe-kprobe, as kind's are kind-kind.
const DefaultClusterName = "kprobe"

var clusterNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// ValidClusterName says whether name can name a cluster (and its
// kubeconfig entries kprobe-NAME): lower-case letters, digits and dashes.
func ValidClusterName(name string) bool { return clusterNameRE.MatchString(name) }

// ContextName is the kubeconfig cluster, user and context name of the
// cluster called name.
func ContextName(name string) string { return "kprobe-" + name }

// merged records what --merge-kubeconfig did, for stop to take back.
type merged struct {
	File            string `json:"file"`
	Name            string `json:"name"`
	PreviousContext string `json:"previousContext,omitempty"`
}

func mergedPath(dataDir string) string {
	return filepath.Join(dataDir, "run", "merged-kubeconfig.json")
}

// mergeTarget is the user's kubeconfig: the first file of $KUBECONFIG,
// else ~/.kube/config, but never the cluster's own file (after the
// README's export KUBECONFIG=DATA/kubeconfig, merging into it merged the
// file into itself).
func mergeTarget(clusterConfig string) string {
	own, _ := filepath.Abs(clusterConfig)
	for _, f := range filepath.SplitList(os.Getenv(clientcmd.RecommendedConfigPathEnvVar)) {
		if abs, err := filepath.Abs(f); err == nil && f != "" && abs != own && !sameFile(abs, own) {
			return abs
		}
	}
	return filepath.Join(homedir.HomeDir(), clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// NameKubeconfig names the cluster, user and context of the cluster's own
// kubeconfig kprobe-NAME (ContextName), as kind names its kind-NAME:
// the engines write kubernetes-admin@kprobe (k3s: default), the same for
// every cluster.
func NameKubeconfig(path, name string) error {
	src, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return err
	}
	dst := clientcmdapi.NewConfig()
	if err := addCurrentAs(dst, src, ContextName(name)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeKubeconfig(path, dst, false)
}

// addCurrentAs copies src's current context with its cluster and user
// into dst, all three named n, and makes it dst's current context.
func addCurrentAs(dst, src *clientcmdapi.Config, n string) error {
	cur := src.Contexts[src.CurrentContext]
	if cur == nil || src.Clusters[cur.Cluster] == nil || src.AuthInfos[cur.AuthInfo] == nil {
		return errors.New("no complete current context")
	}
	dst.Clusters[n] = src.Clusters[cur.Cluster].DeepCopy()
	dst.AuthInfos[n] = src.AuthInfos[cur.AuthInfo].DeepCopy()
	ctx := cur.DeepCopy()
	ctx.Cluster, ctx.AuthInfo = n, n
	dst.Contexts[n] = ctx
	dst.CurrentContext = n
	return nil
}

// MergeKubeconfig merges the cluster's kubeconfig into the user's (see
// mergeTarget) as the cluster, user and context kprobe-NAME, keeping the
// previous file as FILE.bak, makes that context current, and records in
// the data dir what it did so that Stop removes it again.
func MergeKubeconfig(dataDir, clusterConfig, name string) (string, error) {
	target := mergeTarget(clusterConfig)
	src, err := clientcmd.LoadFromFile(clusterConfig)
	if err != nil {
		return "", err
	}
	dst, err := clientcmd.LoadFromFile(target)
	if errors.Is(err, os.ErrNotExist) {
		dst, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", target, err)
	}
	n := ContextName(name)
	rec := merged{File: target, Name: n, PreviousContext: dst.CurrentContext}
	if rec.PreviousContext == n {
		// Merged before and not taken back: keep the context it replaced.
		if old, err := readMerged(dataDir); err == nil && old.File == target {
			rec.PreviousContext = old.PreviousContext
		}
	}
	if err := addCurrentAs(dst, src, n); err != nil {
		return "", fmt.Errorf("%s: %w", clusterConfig, err)
	}
	if err := writeKubeconfig(target, dst, true); err != nil {
		return "", err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	return target, writeAtomic(mergedPath(dataDir), append(data, '\n'), 0o600)
}

func readMerged(dataDir string) (*merged, error) {
	data, err := os.ReadFile(mergedPath(dataDir))
	if err != nil {
		return nil, err
	}
	var m merged
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", mergedPath(dataDir), err)
	}
	return &m, nil
}

// unmergeKubeconfig takes back what MergeKubeconfig recorded: it removes
// the kprobe-NAME entries and, when that context is still current, makes
// the previous one current again. It returns what it did ("" for nothing).
func unmergeKubeconfig(dataDir string) (string, error) {
	m, err := readMerged(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	cfg, err := clientcmd.LoadFromFile(m.File)
	if errors.Is(err, os.ErrNotExist) {
		return "", os.Remove(mergedPath(dataDir))
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", m.File, err)
	}
	delete(cfg.Clusters, m.Name)
	delete(cfg.AuthInfos, m.Name)
	delete(cfg.Contexts, m.Name)
	did := fmt.Sprintf("removed the context %s from %s", m.Name, m.File)
	if cfg.CurrentContext == m.Name {
		cfg.CurrentContext = ""
		if _, ok := cfg.Contexts[m.PreviousContext]; ok {
			cfg.CurrentContext = m.PreviousContext
			did += ", current context " + m.PreviousContext + " again"
		}
	}
	if err := writeKubeconfig(m.File, cfg, false); err != nil {
		return "", err
	}
	return did, os.Remove(mergedPath(dataDir))
}

// writeKubeconfig writes cfg to path atomically (mode 0600), keeping the
// previous file as path.bak when backup is set.
func writeKubeconfig(path string, cfg *clientcmdapi.Config, backup bool) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && backup {
		if err := writeAtomic(path+".bak", old, 0o600); err != nil {
			return err
		}
	}
	return writeAtomic(path, data, 0o600)
}

// apiEndpoint is the API server URL of a kubeconfig ("" when unreadable):
// the address the API server binds, which launch chose (APIBindAddress).
func apiEndpoint(kubeconfig string) string {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return ""
	}
	return cfg.Host
}
