package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// run is what one checker printed inside one sandbox.
type run struct {
	Checker string  `json:"checker"`
	Exit    int     `json:"exit"`
	Stdout  string  `json:"stdout"`
	Stderr  string  `json:"stderr"`
	Seconds float64 `json:"seconds"`
	// Err is set when the zoo could not run the checker at all.
	Err string `json:"err,omitempty"`
}

// answer is a checker's output reduced to what the table shows. Verdict
// checkers set Pods (a cluster with pods can run here) and, for kprobe,
// Containers (its pods are containers: T0-T2). Detectors set Names.
// Ran is false when the checker gave no answer (it failed to run).
type answer struct {
	Ran        bool
	Pods       bool
	Containers bool
	Names      []string
	Reason     string
}

// checkers in the order of the table's columns.
var checkers = []string{"kprobe", "check-config", "kubeadm", "systemd-detect-virt", "virt-what"}

// detector: the checker names an environment instead of a verdict.
func detector(checker string) bool {
	return checker == "systemd-detect-virt" || checker == "virt-what"
}

func reduce(r run) answer {
	if r.Err != "" {
		return answer{Reason: "did not run: " + firstLine(r.Err)}
	}
	switch r.Checker {
	case "kprobe":
		return reduceKprobe(r)
	case "check-config":
		return reduceCheckConfig(r)
	case "kubeadm":
		return reduceKubeadm(r)
	case "systemd-detect-virt", "virt-what":
		return reduceDetector(r)
	}
	return answer{Reason: "unknown checker " + r.Checker}
}

// podRungs are the rungs at which pods run; T0-T2 run them as containers,
// TP as processes of the sandbox; T3 is the control plane alone.
var podRungs = []string{"T0", "T1", "T2", "TP"}

func containerRung(rung string) bool { return rung == "T0" || rung == "T1" || rung == "T2" }

// reduceKprobe: the rung of `kprobe scan -o json`'s verdict.
func reduceKprobe(r run) answer {
	var rep struct {
		Verdict struct {
			Rung string `json:"rung"`
		} `json:"verdict"`
		Facts map[string]json.RawMessage `json:"facts"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || rep.Verdict.Rung == "" {
		return answer{Reason: fmt.Sprintf("no report (exit %d): %s", r.Exit, firstLine(r.Stderr))}
	}
	a := answer{Ran: true, Reason: rep.Verdict.Rung,
		Pods: slices.Contains(podRungs, rep.Verdict.Rung), Containers: containerRung(rep.Verdict.Rung)}
	var id string
	if json.Unmarshal(rep.Facts["identity.sandbox"], &id) == nil && id != "" {
		a.Reason += ", identity " + id
	}
	return a
}

// checkConfigBad are the values runc's check-config.sh prints for a
// missing requirement (wrap_bad).
var checkConfigBad = regexp.MustCompile(`: (missing|nonexistent\?\?|single mountpoint!|enabled, but apparmor_parser missing)`)

// reduceCheckConfig: yes when the script found a kernel config and nothing
// in its "Generally Necessary" section is missing; its optional features
// do not count.
func reduceCheckConfig(r run) answer {
	if strings.Contains(r.Stderr, "cannot find kernel config") {
		return answer{Ran: true, Reason: "no kernel config found"}
	}
	if !strings.Contains(r.Stdout, "Generally Necessary:") {
		return answer{Reason: fmt.Sprintf("no report (exit %d): %s", r.Exit, firstLine(r.Stderr))}
	}
	section := r.Stdout[strings.Index(r.Stdout, "Generally Necessary:"):]
	if i := strings.Index(section, "Optional Features:"); i >= 0 {
		section = section[:i]
	}
	var bad []string
	sc := bufio.NewScanner(strings.NewReader(section))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); checkConfigBad.MatchString(line) {
			bad = append(bad, strings.TrimPrefix(line, "- "))
		}
	}
	if len(bad) == 0 {
		return answer{Ran: true, Pods: true, Reason: "every necessary option set"}
	}
	return answer{Ran: true, Reason: summarize(bad)}
}

// kubeadmError is one "[ERROR <check>]: <message>" line of the preflight.
var kubeadmError = regexp.MustCompile(`\[ERROR ([^\]]+)\]: ?(.*)`)

// launcherChecks are preflight checks about what a cluster's installer
// installs, starts or sets itself, not about the sandbox: the container
// runtime running, the kubelet (its version, its service), the images, the
// binaries kubeadm wants on PATH and the sysctls it only reads (kubeadm's
// own docs have the user set them; kprobe's launch writes them). Their
// errors do not make the verdict "no".
func launcherCheck(id string) bool {
	switch id {
	case "CRI", "ContainerRuntimeVersion", "KubeletVersion", "ImagePull":
		return true
	}
	return strings.HasPrefix(id, "Service-") || strings.HasPrefix(id, "FileExisting-") ||
		strings.HasPrefix(id, "FileContent--proc-sys-")
}

// reduceKubeadm: yes when `kubeadm init phase preflight` reports no error
// besides launcherChecks; SystemVerification's error that only says the
// kubelet's version could not be read is a launcher error too.
func reduceKubeadm(r run) answer {
	out := r.Stdout + "\n" + r.Stderr
	var blockers []string
	var errs int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := kubeadmError.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		errs++
		if launcherCheck(m[1]) || (m[1] == "SystemVerification" && strings.HasPrefix(m[2], "couldn't get kubelet version")) {
			continue
		}
		blockers = append(blockers, m[1]+": "+m[2])
	}
	switch {
	case len(blockers) > 0:
		return answer{Ran: true, Reason: summarize(blockers)}
	case r.Exit == 0 || (errs > 0 && strings.Contains(out, "[preflight] Some fatal errors occurred")):
		return answer{Ran: true, Pods: true, Reason: fmt.Sprintf("only launcher errors (%d)", errs)}
	}
	// kubeadm refused before its checks (no address for the API server
	// where the sandbox has no default route): kubeadm init cannot run here.
	for _, line := range strings.Split(out, "\n") {
		if msg, ok := strings.CutPrefix(line, "error: "); ok {
			return answer{Ran: true, Reason: "refused before the checks: " + firstLine(msg)}
		}
	}
	return answer{Reason: fmt.Sprintf("no preflight (exit %d): %s", r.Exit, firstLine(out))}
}

// reduceDetector: the names printed, one a line. systemd-detect-virt
// prints "none" and exits 1 where it finds nothing; virt-what prints
// nothing and exits 0 on bare metal, and fails when not run as root.
func reduceDetector(r run) answer {
	names := strings.Fields(r.Stdout)
	switch {
	case r.Checker == "systemd-detect-virt" && (r.Exit == 0 || (r.Exit == 1 && slices.Equal(names, []string{"none"}))):
	case r.Checker == "virt-what" && r.Exit == 0:
		if len(names) == 0 {
			names = []string{"(nothing)"}
		}
	default:
		return answer{Reason: fmt.Sprintf("failed (exit %d): %s", r.Exit, firstLine(r.Stderr+r.Stdout))}
	}
	return answer{Ran: true, Names: names, Reason: strings.Join(names, " ")}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// summarize names the first problem and how many more there are.
func summarize(items []string) string {
	s := firstLine(items[0])
	if len(items) > 1 {
		s += fmt.Sprintf(" (+%d more)", len(items)-1)
	}
	return s
}
