package signatures

import (
	"fmt"
	"strings"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

// Counts returns how many signatures of table take each kind of action.
func Counts(table []Signature) map[Kind]int {
	n := map[Kind]int{}
	for _, s := range table {
		n[s.Action.Kind]++
	}
	return n
}

// String describes the action in a few words.
func (a Action) String() string {
	var b strings.Builder
	switch a.Kind {
	case Remedy:
		var parts []string
		kubernetes := &adapters.Plan{Engine: adapters.EngineKubernetes, Rung: profiles.T0}
		for _, s := range a.Settings {
			part := "`" + s.String() + "`"
			if _, why := kubernetes.InVocabulary(s); why != "" {
				part += " (k3s only)"
			}
			parts = append(parts, part)
		}
		for _, s := range a.Shims {
			parts = append(parts, "shim `"+s.Name+"`")
		}
		fmt.Fprintf(&b, "remedy: %s; if it persists, ", strings.Join(parts, ", "))
		switch a.AtMost {
		case "":
			b.WriteString("step down one rung")
		case profiles.T4:
			b.WriteString("stop (T4)")
		default:
			fmt.Fprintf(&b, "step down to %s", a.AtMost)
		}
	case StepDown:
		b.WriteString("step down")
		if a.AtMost != "" {
			fmt.Fprintf(&b, " to %s", a.AtMost)
		} else {
			b.WriteString(" one rung")
		}
	case Fatal:
		fmt.Fprintf(&b, "fatal: needs %s", a.Needs)
	case Advisory:
		b.WriteString("advisory: reported, the attempt goes on")
	default:
		b.WriteString(string(a.Kind))
	}
	return b.String()
}

// Markdown renders table as docs/signatures.md.
func Markdown(table []Signature) string {
	var b strings.Builder
	n := Counts(table)
	b.WriteString(`# Log signatures

<!-- Generated from adapters/signatures/table.go by
     go test ./adapters/signatures -run TestDocs -update
     Do not edit by hand: TestDocs fails when this file is stale. -->

While ` + "`kprobe launch`" + ` runs, kprobe reads the logs of the components it started
(` + "`<data-dir>/logs/*.log`" + `; k3s writes the kubelet's, kube-proxy's, the apiserver's and
flannel's lines into its own log). When a line matches a signature below, the launcher shows
its diagnosis and fix and does what the Action column says:

- **remedy**: stop the attempt, add the settings or shims to the plan and retry at the same rung. If they
  were already in place, the remedy did not help, and the launcher steps down instead. A setting marked
  "k3s only" is a k3s flag: it is not offered to the kubernetes engine's plan, and where nothing else is
  left the launcher steps down at once and says why.
- **step down**: stop the attempt and retry lower on the fallback ladder (T0 full, T1 degraded worker, T2 worker without
  kube-proxy, network policy or flannel, TP process pods, T3 control plane only). "to T2" means straight to T2 when
  the rungs in between cannot avoid the failure. "to TP" goes to T3 where process pods are ruled out
  (a launch with ` + "`--process-pods=false`" + `, or the k3s engine).
- **no signature**: a failure no signature explains ends the ladder, except at TP, where the
  launcher steps down to T3.
- **fatal**: stop; kprobe cannot work around it, the environment has to change as stated.
- **advisory**: reported with its fix; the attempt goes on.

Patterns are case-insensitive, ignore klog and logrus prefixes, and read escaped quotes
(` + "`\\\"`" + `) as plain ones. Where two signatures match the same line, the one listed
first wins ("takes precedence over").

`)
	fmt.Fprintf(&b, "%d signatures: %d remedy, %d step down, %d fatal, %d advisory.\n\n",
		len(table), n[Remedy], n[StepDown], n[Fatal], n[Advisory])
	b.WriteString("| Code | Log | What it means | Fix | Action |\n|---|---|---|---|---|\n")
	for _, s := range table {
		what := s.Diagnosis
		if len(s.Shadows) > 0 {
			what += " (Takes precedence over " + strings.Join(s.Shadows, ", ") + ".)"
		}
		act := s.Action.String()
		if s.Action.Kind != Fatal && s.Action.Needs != "" {
			act += "; needs " + s.Action.Needs
		}
		var logs []string
		for _, c := range s.Logs() {
			logs = append(logs, string(c))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", s.Code, strings.Join(logs, ", "), cell(what), cell(s.Fix), cell(act))
	}
	b.WriteString("\n## Sources\n\n")
	for _, s := range table {
		fmt.Fprintf(&b, "- `%s`: %s\n", s.Code, s.Source)
	}
	return b.String()
}

var cellEscape = strings.NewReplacer("|", `\|`, "\n", " ")

func cell(s string) string { return cellEscape.Replace(s) }
