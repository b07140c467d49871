package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/reexec"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/kprobe/kprobe/probes/container"
	"github.com/kprobe/kprobe/probes/suite"
)

// TestMain lets the test binary act as kprobe (for testscript) and as
// kprobe's own re-exec'd children (active probes).
func TestMain(m *testing.M) {
	container.InitIfChild()
	suite.Register()
	if reexec.Init() {
		return
	}
	testscript.Main(m, map[string]func(){"kprobe": Main})
}

// TestCLI runs the scripts in testdata/script: the real binary against
// this machine, its flags, exit codes and files.
func TestCLI(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("NO_COLOR", "1")
			// the engine 'make engine' built, when there is one
			engine, err := filepath.Abs("../../../bin/engine")
			if err != nil {
				return err
			}
			e.Setenv("ENGINE", engine)
			if os.Geteuid() == 0 {
				e.Setenv("ROOT", "1")
			}
			return nil
		},
		// [engine]: 'make engine' built bin/engine
		Condition: func(cond string) (bool, error) {
			if cond != "engine" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			_, err := os.Stat("../../../bin/engine/kube-apiserver")
			return err == nil, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exitcode N ARGS...: run kprobe ARGS in process and expect exit code N.
			"exitcode": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 1 {
					ts.Fatalf("usage: exitcode N args...")
				}
				s := IOStreams{In: strings.NewReader(""), Out: ts.Stdout(), ErrOut: ts.Stderr()}
				for i, a := range args {
					if strings.HasPrefix(a, "$WORK") {
						args[i] = ts.MkAbs(strings.TrimPrefix(strings.TrimPrefix(a, "$WORK"), "/"))
					}
				}
				code := ExitCode(Run(context.Background(), s, args[1:]), ts.Stderr())
				if want := args[0]; strconv.Itoa(code) != want {
					ts.Fatalf("kprobe %v exited %d, want %s", args[1:], code, want)
				}
			},
			// sleep DURATION: let a background command get going.
			"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
				d, err := time.ParseDuration(args[0])
				ts.Check(err)
				time.Sleep(d)
			},
			// jsonvalid FILE: FILE holds one valid JSON document.
			"jsonvalid": func(ts *testscript.TestScript, neg bool, args []string) {
				var v any
				err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v)
				if (err != nil) != neg {
					ts.Fatalf("jsonvalid %s: %v", args[0], err)
				}
			},
		},
	})
}

// TestExitCodeInterrupted: whatever a command returns after Ctrl+C, kprobe
// exits 130 and keeps the command's own message.
func TestExitCodeInterrupted(t *testing.T) {
	var out strings.Builder
	if code := ExitCode(interrupted(context.Canceled), &out); code != ExitInterrupted || out.String() != "kprobe: interrupted\n" {
		t.Errorf("interrupted(context.Canceled): exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := ExitCode(interrupted(errBlockers), &out); code != 130 || out.String() != "kprobe: interrupted\n" {
		t.Errorf("interrupted(errBlockers): exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := ExitCode(interrupted(badInput("launch stopped")), &out); code != 130 || !strings.Contains(out.String(), "interrupted: launch stopped") {
		t.Errorf("interrupted(badInput): exit %d, %q", code, out.String())
	}
}
