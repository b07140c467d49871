package app

import (
	"strings"
	"testing"
)

// TestClusterCommandList: the light kprobe's stubs list every cluster
// command with the Use, Short and Hidden of the command itself, so that
// `kprobe --help` and shell completion are those of kprobe-cluster.
func TestClusterCommandList(t *testing.T) {
	s := IOStreams{In: strings.NewReader(""), Out: &strings.Builder{}, ErrOut: &strings.Builder{}}
	real := clusterCommands(s)
	if len(real) != len(clusterCommandList) {
		t.Fatalf("%d cluster commands, clusterCommandList has %d", len(real), len(clusterCommandList))
	}
	for i, c := range real {
		want := clusterCommandList[i]
		if c.Use != want.Use || c.Short != want.Short || c.Hidden != want.Hidden || len(c.Aliases) > 0 {
			t.Errorf("command %d is {%q, %q, hidden %v, aliases %v}, clusterCommandList says {%q, %q, hidden %v}",
				i, c.Use, c.Short, c.Hidden, c.Aliases, want.Use, want.Short, want.Hidden)
		}
	}
	for _, c := range NewRootCommand(s).Commands() {
		if got := clusterTarget([]string{c.Name()}); (got != "") != isCluster(c.Name()) {
			t.Errorf("clusterTarget(%q) = %q", c.Name(), got)
		}
	}
	for _, args := range [][]string{{"help", "launch"}, {"__complete", "launch", "--e"}, {"__completeNoDesc", "stop", ""}, {"status", "--help"}} {
		if clusterTarget(args) == "" {
			t.Errorf("clusterTarget(%q) is not a cluster command", args)
		}
	}
	for _, args := range [][]string{{"__complete", "launch"}, {"__complete", "help", "la"}, {"scan", "launch"}, {}, {"help"}} {
		if got := clusterTarget(args); got != "" {
			t.Errorf("clusterTarget(%q) = %q, want none (the light kprobe's own)", args, got)
		}
	}
}

func isCluster(name string) bool {
	for _, c := range clusterCommandList {
		if strings.Fields(c.Use)[0] == name {
			return true
		}
	}
	return false
}
