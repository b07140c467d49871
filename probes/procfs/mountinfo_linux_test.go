//go:build linux

package procfs

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

// sameAsMoby checks ms, parsed from text without error, against
// moby/sys/mountinfo's Linux-only parser, line by line, wherever the two
// read a line the same way: moby takes the fourth field from the end as
// the separator and drops what follows the super options.
func sameAsMoby(t *testing.T, text string, ms []*mountinfo.Info) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	i := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		if i >= len(ms) {
			t.Fatalf("line %q has no mount", line)
		}
		m := ms[i]
		i++
		if strings.HasSuffix(line, "\r") {
			continue // moby's own scanner would drop it once more
		}
		f := strings.Split(line, " ")
		sep := 6
		for f[sep] != "-" {
			sep++
		}
		if sep != len(f)-4 {
			continue
		}
		want, err := mountinfo.GetMountsFromReader(strings.NewReader(line), nil)
		if err != nil {
			t.Fatalf("moby rejects %q: %v", line, err)
		}
		if len(want) != 1 {
			t.Fatalf("moby read %d mounts from %q", len(want), line)
		}
		if !reflect.DeepEqual(*want[0], *m) {
			t.Fatalf("line %q:\n got %#v\nmoby %#v", line, *m, *want[0])
		}
	}
}

// TestLiveMountinfo parses this machine's mount table the way moby does.
func TestLiveMountinfo(t *testing.T) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ParseMountinfo(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	want, err := mountinfo.GetMountsFromReader(strings.NewReader(string(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ms, want) {
		t.Errorf("got %+v\nmoby %+v", ms, want)
	}
	root := false
	for _, m := range ms {
		root = root || m.Mountpoint == "/"
	}
	if !root {
		t.Error("no mount at /")
	}
}

func TestDumpsSameAsMoby(t *testing.T) {
	for _, d := range dumps {
		text := readDump(t, d.name)
		ms, err := ParseMountinfo(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		sameAsMoby(t, text, ms)
	}
}
