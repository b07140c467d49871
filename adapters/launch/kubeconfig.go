package launch

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
)

// MergeKubeconfig merges the cluster's kubeconfig into the user's
// (~/.kube/config, or the first file of $KUBECONFIG), keeping the previous
// file as config.bak, and makes the cluster's context current.
func MergeKubeconfig(clusterConfig string) (string, error) {
	target := clientcmd.NewDefaultPathOptions().GetDefaultFilename()
	src, err := clientcmd.LoadFromFile(clusterConfig)
	if err != nil {
		return "", err
	}
	dst, err := clientcmd.LoadFromFile(target)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("%s: %w", target, err)
	}
	if dst == nil || os.IsNotExist(err) {
		dst = src.DeepCopy()
	} else {
		for k, v := range src.Clusters {
			dst.Clusters[k] = v
		}
		for k, v := range src.AuthInfos {
			dst.AuthInfos[k] = v
		}
		for k, v := range src.Contexts {
			dst.Contexts[k] = v
		}
		dst.CurrentContext = src.CurrentContext
	}
	data, err := clientcmd.Write(*dst)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return "", err
	}
	if old, err := os.ReadFile(target); err == nil {
		if err := writeAtomic(target+".bak", old, 0o600); err != nil {
			return "", err
		}
	}
	return target, writeAtomic(target, data, 0o600)
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
