package capture_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/capture"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/suite"
)

func TestMain(m *testing.M) { probetest.Main(m) }

// TestReplayReproducesTheLiveScan captures this machine and replays the
// capture: every probe must reach the same status and the same facts,
// which proves the capture holds every file and answer the probes use.
func TestReplayReproducesTheLiveScan(t *testing.T) {
	if testing.Short() {
		t.Skip("live scan")
	}
	all := suite.All()
	rec, env := capture.NewRecorder(probes.LiveEnv(t.TempDir()))
	live := probes.Run(context.Background(), env, all, probes.Options{})
	dir := t.TempDir()
	if err := rec.Write(dir, "/", capture.Provenance{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	renv, err := capture.ReplayEnv(dir, all)
	if err != nil {
		t.Fatal(err)
	}
	replay := probes.Run(context.Background(), renv, all, probes.Options{})
	for i, l := range live.Results {
		r := replay.Results[i]
		if l.Status != r.Status {
			t.Errorf("%s: live %s, replay %s (%s)", l.ID, l.Status, r.Status, r.Error)
		}
	}
	for _, k := range live.Facts.Keys() {
		lv, rv := fmt.Sprint(live.Facts[k]), fmt.Sprint(replay.Facts[k])
		if strings.HasSuffix(k, "free_bytes") {
			// Two probes statfs the same path a few ms apart; the disk
			// moves in between and the capture keeps the first answer.
			a, _ := live.Facts.Int(k)
			b, _ := replay.Facts.Int(k)
			if diff := a - b; diff < 0 && -diff < a/100 || diff >= 0 && diff < a/100+1 {
				continue
			}
		}
		if lv != rv && !redacted(k) && !(liveOnly(k) && rv == "unknown") {
			t.Errorf("fact %s: live %s, replay %s", k, lv, rv)
		}
	}
	for _, k := range replay.Facts.Keys() {
		if _, ok := live.Facts[k]; !ok {
			t.Errorf("fact %s appeared only in the replay", k)
		}
	}
}

// liveOnly lists facts a replay leaves unknown on purpose: whether a
// socket accepts a connection can only be asked of the live machine.
func liveOnly(key string) bool {
	return key == "net.engine_sockets"
}

// redacted lists facts whose text the capture redacts on purpose.
func redacted(key string) bool {
	// The cgroup path carries a container or session ID.
	return key == "cgroups.self_path"
}

// TestWriteRedactsExtraUsers: a user name the sandbox's /etc/passwd does
// not list (the outer user of a rootless container) is redacted when the
// caller names it, like the users that file lists.
func TestWriteRedactsExtraUsers(t *testing.T) {
	live := t.TempDir()
	files := map[string]string{
		"etc/passwd":          "root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000::/home/bob:/bin/sh\n",
		"proc/self/mountinfo": "88 65 254:0 /var/cache/zoo-cache/alice/storage/vfs / rw - ext4 /dev/vda rw\n95 88 0:3 / /srv/bob rw - tmpfs tmpfs rw\n",
	}
	for name, text := range files {
		p := filepath.Join(live, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rec, env := capture.NewRecorder(&probes.Env{Root: os.DirFS(live)})
	rec.Users = []string{"alice"}
	if _, err := fs.ReadFile(env.Root, "proc/self/mountinfo"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := rec.Write(dir, live, capture.Provenance{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "root/proc/self/mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if strings.Contains(got, "alice") || strings.Contains(got, "bob") {
		t.Errorf("user names left in the capture:\n%s", got)
	}
	// Sorted together: alice -> user1, bob -> user2; kprobe-zoo style
	// names that merely contain a user name stay.
	for _, want := range []string{"/var/cache/zoo-cache/user1/storage/vfs", "/srv/user2"} {
		if !strings.Contains(got, want) {
			t.Errorf("capture lacks %q:\n%s", want, got)
		}
	}
}
