package download

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestLookupSum(t *testing.T) {
	s := sha256.Sum256([]byte("k3s"))
	d := hex.EncodeToString(s[:])
	for _, c := range []struct {
		data  string
		names []string
		want  string
		err   string
	}{
		{d + "  k3s\n", []string{"k3s"}, d, ""},
		{strings.ToUpper(d) + " *dist/k3s\n", []string{"k3s"}, d, ""},
		{"# comment\n\n" + d + "\n", []string{"k3s"}, d, ""},
		{d + "  other\n", []string{"k3s"}, "", "no sha256 entry for k3s"},
		{d + "\n" + d + "\n", []string{"k3s"}, "", "no sha256 entry"},
		{"", []string{"k3s"}, "", "no sha256 digest"},
		{"abc  k3s\n", []string{"k3s"}, "", "not a sha256 digest"},
	} {
		got, err := LookupSum([]byte(c.data), c.names...)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("LookupSum(%q) = %q, %v; want error %q", c.data, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("LookupSum(%q) = %q, %v; want %q", c.data, got, err, c.want)
		}
	}
}

func TestParseSumsKeepsPaths(t *testing.T) {
	s := sha256.Sum256([]byte("kubelet"))
	d := hex.EncodeToString(s[:])
	got, err := ParseSums([]byte(d + "  cni/bridge\n" + strings.ToUpper(d) + " *images/pause.tar\n" + d + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Sum{{d, "cni/bridge"}, {d, "images/pause.tar"}, {d, ""}}
	if len(got) != len(want) {
		t.Fatalf("ParseSums = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := ParseSums([]byte("<html>rate limited</html>\n")); err == nil {
		t.Error("an HTML page parsed as a checksum file")
	}
}
