package images

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestImportArgs(t *testing.T) {
	for _, tc := range []struct {
		address, namespace string
		opts               []ImportOption
		want               string
	}{
		{"/w/containerd.sock", CRINamespace, nil, "--address /w/containerd.sock --namespace k8s.io images import /a.tar"},
		{"", "", nil, "images import /a.tar"},
		{"", CRINamespace, []ImportOption{WithSnapshotter("native")}, "--namespace k8s.io images import --snapshotter native /a.tar"},
	} {
		var cfg importConfig
		for _, o := range tc.opts {
			o(&cfg)
		}
		if got := importArgs(tc.address, tc.namespace, "/a.tar", cfg); !reflect.DeepEqual(got, strings.Fields(tc.want)) {
			t.Errorf("importArgs = %q, want %q", got, tc.want)
		}
	}
}

// fakeCtr writes a ctr stand-in script and returns its path.
func fakeCtr(t *testing.T, script string) string {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	p := filepath.Join(t.TempDir(), "ctr")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportErrorCarriesStderr(t *testing.T) {
	ctr := fakeCtr(t, `echo "unpacking..." ; echo "ctr: failed to import: content digest mismatch" >&2; exit 1`+"\n")
	err := Import(context.Background(), ctr, "/w/c.sock", CRINamespace, "/a.tar")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"images import /a.tar", "exit status 1", "content digest mismatch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestImportPassesArgs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "args")
	ctr := fakeCtr(t, `echo "$@" > `+out+"\n")
	if err := Import(context.Background(), ctr, "/w/c.sock", CRINamespace, "/a.tar", WithSnapshotter("native")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(b)), "--address /w/c.sock --namespace k8s.io images import --snapshotter native /a.tar"; got != want {
		t.Errorf("ctr got %q, want %q", got, want)
	}
}

func TestImportMissingCtr(t *testing.T) {
	err := Import(context.Background(), filepath.Join(t.TempDir(), "no-ctr"), "", "", "/a.tar")
	if err == nil || !strings.Contains(err.Error(), "no-ctr") {
		t.Fatalf("err = %v", err)
	}
}

func TestImportCanceled(t *testing.T) {
	ctr := fakeCtr(t, "exec sleep 30\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Import(ctx, ctr, "", "", "/a.tar"); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("err = %v, want a canceled context", err)
	}
}
