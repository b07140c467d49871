//go:build !nocluster

package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/launch"
	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/verify"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
)

func newVerifyCommand(s IOStreams) *cobra.Command {
	var dataDir, kubeconfig, output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the success criteria on a launched cluster: pods, logs, exec, Services, Helm",
		Long: `verify runs, against a live cluster, each success criterion of kprobe's research and
reports pass, fail or skipped with the evidence:

  control-plane  the API answers /readyz and a node is Ready
  kubectl        kubectl lists nodes and applies a manifest
  deployment     a Deployment's pod runs
  logs, exec     kubectl logs and kubectl exec (with stdin) work
  service        a ClusterIP Service routes from one pod to another
  networkpolicy  a deny-all ingress NetworkPolicy blocks the client pod from that
                 Service, and deleting it lets the client through again (skipped,
                 with the reason, where the launch's plan enforces no NetworkPolicy)
  dns            a pod resolves that Service by name (cluster DNS) and reaches it
  storage        a PVC of the default StorageClass keeps data when its pod is recreated
  helm-dry-run   helm install --dry-run=server validates a chart
  helm-install   helm install deploys a chart whose pod runs
  nodes          with more than one real node (launch --nodes): pods on every node,
                 pod to pod across nodes by pod IP, a Service answered from every node
  simulated      after launch --simulate-nodes: a Deployment and a Helm release are
                 bound to the kwok nodes and reported Running (no container runs)

After a control-plane-only launch (rung T3) the pod checks are skipped and
the control plane, kubectl and the Helm dry run are verified.

After a process-pod launch (rung TP: pods run as processes of the sandbox)
two more checks run:
  crash-restart  a crashing container shows CrashLoopBackOff, is restarted
                 after the back-off and recovers
  readiness      an exec readiness probe keeps a running pod not Ready until
                 it passes
and the service and dns checks count as skipped unless they pass ("process
pods: networking is issue #14").

It works in the namespace kprobe-verify and deletes it afterwards. Each check
ends within 2m30s and prints its line as it ends (with -o json on stderr);
--timeout bounds the whole run, the last minute of it kept for the cleanup.
Exit code 2 when a check fails.`,
		Example: `  kprobe verify
  kprobe verify -o json
  kprobe verify --kubeconfig ~/.kube/config`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				kubeconfig = launchhost.KubeconfigPath(dataDir)
			}
			if _, err := os.Stat(kubeconfig); err != nil {
				return badInput("no kubeconfig at %s: launch a cluster first (kprobe launch) or pass --kubeconfig", kubeconfig)
			}
			// Each check's line as it ends; with -o json on stderr, so a
			// verification cut short still says how far it got.
			progress := func(c verify.Check) {
				w := s.Out
				if output != "text" {
					w = s.ErrOut
				}
				fmt.Fprintf(w, "%-7s %-14s %s\n", c.Outcome, c.Name, c.Evidence)
			}
			// A T3 launch has no node: verify what a control plane offers.
			cpOnly, processPods := false, false
			var simulated []string
			noPolicy := "no launch result in " + dataDir + ": whether this cluster enforces NetworkPolicy is unknown"
			if res, err := launch.LoadResult(dataDir); err == nil {
				cpOnly = res.Rung == string(profiles.T3)
				processPods = res.Rung == string(profiles.TP)
				simulated = res.SimulatedNodes
				if res.Plan != nil {
					noPolicy = res.Plan.WhyNoNetworkPolicy()
				}
			}
			rep := verify.Run(cmd.Context(), verify.Options{Kubeconfig: kubeconfig, Timeout: timeout, Progress: progress,
				ControlPlaneOnly: cpOnly, ProcessPods: processPods, SimulatedNodes: simulated, NoNetworkPolicy: noPolicy})
			if err := saveVerification(dataDir, kubeconfig, rep); err != nil {
				fmt.Fprintf(s.ErrOut, "kprobe: could not save the verification for 'kprobe report': %v\n", err)
			}
			if output == "json" {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			}
			if !rep.Passed {
				return &ExitError{Code: ExitBlockers, Err: errors.New("verification failed")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the launch's data dir (its kubeconfig is used)")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "verify the cluster of this kubeconfig instead")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().DurationVar(&timeout, "timeout", 4*time.Minute, "time limit for the whole verification, the namespace's cleanup included")
	return cmd
}

// saveVerification keeps a verification next to the launch it checked
// (DATA/run/verify.json) for 'kprobe report', when the kubeconfig is the
// data dir's own and a launch wrote its run dir.
func saveVerification(dataDir, kubeconfig string, rep *verify.Report) error {
	if kubeconfig != launchhost.KubeconfigPath(dataDir) {
		return nil
	}
	if _, err := os.Stat(filepath.Dir(reports.VerifyPath(dataDir))); err != nil {
		return nil
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return profiles.WriteAtomic(reports.VerifyPath(dataDir), append(data, '\n'), false)
}
