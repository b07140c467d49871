package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const hostJSON = `{"generatedAt":"2026-11-28T17:03:18Z","kprobeVersion":"v1",
 "facts":{"identity.sandbox":"vm","fs.root.type":"ext4","priv.cap_count":40,"kernel.release":"6.18.44-fc","cgroups.controllers":["cpu","memory"]},
 "verdict":{"rung":"T0","title":"full cluster"}}`

const gvisorJSON = `{"generatedAt":"2026-11-28T17:03:10Z","kprobeVersion":"v1",
 "facts":{"identity.sandbox":"gvisor","fs.root.type":"9p","dev.kmsg":"ENO|ENT"},
 "verdict":{"rung":"T3","title":"control plane only"}}`

const zooList = `host                 ok       the machine itself (baseline)
gvisor-run           ok       docker run --runtime=runsc: 9p root
gvisor-do-kvm        skip: the KVM platform hangs
`

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRender(t *testing.T) {
	in := t.TempDir()
	write(t, in, "host.json", hostJSON)
	write(t, in, "gvisor-run.json", gvisorJSON)
	write(t, in, "extra.json", hostJSON)
	write(t, in, "zoo-list.txt", zooList)
	out := filepath.Join(t.TempDir(), "zoo.md")
	if err := run(in, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{
		// zoo list order, then scans it does not name.
		"| fact | host | gvisor-run | extra |\n|---|---|---|---|\n",
		"| identity (`identity.sandbox`) | vm | gvisor | vm |\n",
		"| capabilities (CapEff) (`priv.cap_count`) | 40 | - | 40 |\n",
		`| /dev/kmsg (` + "`dev.kmsg`" + `) | - | ENO\|ENT | - |`,
		"| ladder verdict (`verdict`) | T0 | T3 | T0 |\n",
		// The date and the span come from generatedAt.
		"3 sandboxes scanned on 2026-11-28 between 17:03:10 and 17:03:18 UTC by kprobe v1.",
		"* **gvisor-do-kvm**: the KVM platform hangs\n",
		"The host's kernel: 6.18.44-fc.\n",
		"* **gvisor-run**: docker run --runtime=runsc: 9p root. Verdict T3: control plane only.\n",
		"* **extra**: (not in zoo list). Verdict T0",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("output lacks %q:\n%s", want, md)
		}
	}
	// The same input gives the same output.
	out2 := filepath.Join(t.TempDir(), "zoo.md")
	if err := run(in, out2); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(out2); string(b2) != md {
		t.Error("two runs on the same input differ")
	}
}

func TestRunErrors(t *testing.T) {
	empty := t.TempDir()
	if err := run(empty, filepath.Join(t.TempDir(), "x.md")); err == nil || !strings.Contains(err.Error(), "no <sandbox>.json") {
		t.Errorf("empty input: err = %v", err)
	}
	bad := t.TempDir()
	write(t, bad, "x.json", `{"facts":{}}`)
	if err := run(bad, filepath.Join(t.TempDir(), "x.md")); err == nil || !strings.Contains(err.Error(), "not a kprobe scan report") {
		t.Errorf("not a report: err = %v", err)
	}
}
