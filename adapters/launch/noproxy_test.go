package launch

import (
	"slices"
	"testing"
)

func TestNoProxyEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := noProxyEnv(env(nil), "127.0.0.1"); got != nil {
		t.Errorf("without a proxy: %v", got)
	}
	own := clusterAddresses("192.0.2.2", "0.0.0.0", "")
	got := noProxyEnv(env(map[string]string{"HTTPS_PROXY": "http://u:p@proxy:3128", "NO_PROXY": "corp.example, 127.0.0.1"}), own...)
	want := "NO_PROXY=corp.example,127.0.0.1,localhost,192.0.2.2,10.246.0.0/24,10.244.0.0/16,10.96.0.0/12,.svc,.cluster.local"
	if len(got) != 2 || got[0] != want || got[1] != "no_proxy="+want[len("NO_PROXY="):] {
		t.Errorf("noProxyEnv = %v\nwant %s", got, want)
	}
	if slices.Contains(own, "0.0.0.0") {
		t.Errorf("an unspecified bind address is listed: %v", own)
	}
}
