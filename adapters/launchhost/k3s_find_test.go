package launchhost

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeExe(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLookupK3s(t *testing.T) {
	tmp := t.TempDir()
	flagBin := writeExe(t, filepath.Join(tmp, "flag", "my-k3s"), 0o755)
	pathBin := writeExe(t, filepath.Join(tmp, "path", "k3s"), 0o755)
	ownDir := filepath.Join(tmp, "own")
	ownBin := writeExe(t, filepath.Join(ownDir, "k3s"), 0o755)
	noExec := writeExe(t, filepath.Join(tmp, "noexec", "k3s"), 0o644)
	emptyDir := filepath.Join(tmp, "empty")

	onPath := func(string) (string, error) { return pathBin, nil }
	notOnPath := func(string) (string, error) { return "", errors.New("not found") }
	dir := func(d string) func() (string, error) { return func() (string, error) { return d, nil } }

	cases := []struct {
		name    string
		flag    string
		look    func(string) (string, error)
		binDir  func() (string, error)
		want    string
		wantErr string
	}{
		{name: "flag wins", flag: flagBin, look: onPath, binDir: dir(ownDir), want: flagBin},
		{name: "flag missing", flag: filepath.Join(tmp, "nope"), look: onPath, binDir: dir(ownDir), wantErr: filepath.Join(tmp, "nope") + ": "},
		{name: "flag not executable", flag: noExec, look: onPath, binDir: dir(ownDir), wantErr: "not executable"},
		{name: "flag is a dir", flag: tmp, look: onPath, binDir: dir(ownDir), wantErr: "not a regular file"},
		{name: "PATH before own dir", look: onPath, binDir: dir(ownDir), want: pathBin},
		{name: "own bin dir", look: notOnPath, binDir: dir(ownDir), want: ownBin},
		{name: "own bin dir not executable", look: notOnPath, binDir: dir(filepath.Dir(noExec)), wantErr: "reinstall it with `kprobe install k3s"},
		{name: "nowhere", look: notOnPath, binDir: dir(emptyDir), wantErr: "k3s not found (looked in $PATH and " + emptyDir + ")"},
		{name: "no own dir", look: notOnPath, binDir: func() (string, error) { return "", errors.New("no exe") }, wantErr: "looked in $PATH)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := lookupK3sIn(c.flag, c.look, c.binDir)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestFindErrorSaysHowToGetK3s(t *testing.T) {
	_, err := lookupK3sIn("", func(string) (string, error) { return "", errors.New("no") },
		func() (string, error) { return t.TempDir(), nil })
	if err == nil {
		t.Fatal("found a k3s in an empty dir")
	}
	for _, want := range []string{
		"kprobe install k3s --version v1.",
		"kprobe install k3s --from FILE [--sha256-file F]",
		"kprobe launch --bin-dir DIR",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// Find itself, with the real $PATH: a k3s put on PATH is found.
func TestFindOnPath(t *testing.T) {
	dir := t.TempDir()
	bin := writeExe(t, filepath.Join(dir, "k3s"), 0o755)
	t.Setenv("PATH", dir)
	got, err := lookupK3s("")
	if err != nil || got != bin {
		t.Fatalf("Find = %q, %v; want %q", got, err, bin)
	}
}
