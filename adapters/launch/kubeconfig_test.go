package launch

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func writeConfig(t *testing.T, path, name, server string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "t-" + name}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// After the README's export KUBECONFIG=DATA/kubeconfig, --merge-kubeconfig
// merges into ~/.kube/config (never into the cluster's own file) as
// kprobe-NAME, and stop's unmerge removes it and restores the context
// that was current.
func TestMergeKubeconfigAndTakeBack(t *testing.T) {
	home, data := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	own := filepath.Join(data, "kubeconfig")
	writeConfig(t, own, "kubernetes-admin@kprobe", "https://127.0.0.1:6443")
	t.Setenv("KUBECONFIG", own)
	user := filepath.Join(home, ".kube", "config")
	writeConfig(t, user, "work", "https://work.example:443")
	if err := os.MkdirAll(filepath.Join(data, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	ownBefore, _ := os.ReadFile(own)

	target, err := MergeKubeconfig(data, own, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if target != user {
		t.Fatalf("merged into %s, want %s", target, user)
	}
	if after, _ := os.ReadFile(own); string(after) != string(ownBefore) {
		t.Error("the cluster's own kubeconfig changed")
	}
	cfg, err := clientcmd.LoadFromFile(user)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "kprobe-dev" || cfg.Clusters["kprobe-dev"].Server != "https://127.0.0.1:6443" ||
		cfg.AuthInfos["kprobe-dev"].Token != "t-kubernetes-admin@kprobe" || cfg.Contexts["kprobe-dev"].Cluster != "kprobe-dev" || cfg.Contexts["work"] == nil {
		t.Fatalf("merged config: current %q, contexts %v", cfg.CurrentContext, cfg.Contexts)
	}

	did, err := unmergeKubeconfig(data)
	if err != nil || did == "" {
		t.Fatalf("unmerge: %q, %v", did, err)
	}
	cfg, err = clientcmd.LoadFromFile(user)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "work" || cfg.Contexts["kprobe-dev"] != nil || cfg.Clusters["kprobe-dev"] != nil || cfg.AuthInfos["kprobe-dev"] != nil {
		t.Fatalf("after stop: current %q, contexts %v", cfg.CurrentContext, cfg.Contexts)
	}
	// Nothing left to take back.
	if did, err := unmergeKubeconfig(data); did != "" || err != nil {
		t.Errorf("second unmerge: %q, %v", did, err)
	}
}

func TestValidClusterName(t *testing.T) {
	for name, want := range map[string]bool{"kprobe": true, "dev-2": true, "": false, "Dev": false, "-x": false, "a_b": false} {
		if ValidClusterName(name) != want {
			t.Errorf("ValidClusterName(%q) != %v", name, want)
		}
	}
}

// The cluster's own kubeconfig is named after the cluster too (--name):
// kprobe-NAME for its cluster, user and context, the server and
// credentials kept; merging it afterwards gives the same names.
func TestNameKubeconfig(t *testing.T) {
	own := filepath.Join(t.TempDir(), "kubeconfig")
	writeConfig(t, own, "kubernetes-admin@kprobe", "https://127.0.0.1:6443")
	if err := NameKubeconfig(own, "dev"); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(own)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "kprobe-dev" || len(cfg.Contexts) != 1 || len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 ||
		cfg.Clusters["kprobe-dev"].Server != "https://127.0.0.1:6443" || cfg.AuthInfos["kprobe-dev"].Token != "t-kubernetes-admin@kprobe" ||
		cfg.Contexts["kprobe-dev"].Cluster != "kprobe-dev" || cfg.Contexts["kprobe-dev"].AuthInfo != "kprobe-dev" {
		t.Errorf("named kubeconfig: %+v", cfg)
	}
	if st, err := os.Stat(own); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode: %v %v", st, err)
	}
	if err := NameKubeconfig(filepath.Join(t.TempDir(), "none"), "dev"); err == nil {
		t.Error("a missing kubeconfig named without error")
	}
}
