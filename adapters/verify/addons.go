package verify

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The cluster DNS and storage checks (issue 7): what k3s ships and
// `kprobe launch` deploys on the upstream engine (adapters/addons).

// noDNS says why the dns check cannot run: no Service kube-system/kube-dns.
func (r *runner) noDNS() string {
	if _, err := r.kubectl("", "-n", "kube-system", "get", "service", "kube-dns", "-o", "name"); err != nil {
		return "no cluster DNS: the Service kube-system/kube-dns does not exist (launched with --no-addons, or the add-on images were not built: `make addons`)"
	}
	return ""
}

// nslookupAnswer matches busybox nslookup's answer for a name.
var nslookupAnswer = regexp.MustCompile(`Name:\s+(\S+)\s+Address:\s+(\S+)`)

// checkDNS resolves the Service web from the pod client by its full name,
// its namespaced name and its short name (the pod's search path), expects the
// Service's cluster IP, then fetches its page by name.
func (r *runner) checkDNS() (string, error) {
	ns := r.o.Namespace
	ip, err := r.kubectl("", "-n", ns, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
	if err != nil {
		return "", err
	}
	fqdn := "web." + ns + ".svc.cluster.local"
	dnsIP, _ := r.kubectl("", "-n", "kube-system", "get", "service", "kube-dns", "-o", "jsonpath={.spec.clusterIP}")
	// CoreDNS may still be starting right after a launch: retry.
	resolve := func(name string) (string, error) {
		var out string
		var err error
		deadline := time.Now().Add(60 * time.Second)
		for {
			// busybox nslookup tries every search domain and exits 1 when
			// any fails: the answer, not the exit code, tells.
			out, err = r.kubectl("", "-n", ns, "exec", "client", "--", "nslookup", name)
			for _, m := range nslookupAnswer.FindAllStringSubmatch(out, -1) {
				if m[1] == fqdn && m[2] == ip {
					return m[1] + " = " + m[2], nil
				}
			}
			if time.Now().After(deadline) || r.ctx.Err() != nil {
				break
			}
			time.Sleep(time.Second)
		}
		if err == nil {
			err = fmt.Errorf("nslookup %s did not answer %s = %s:\n%s", name, fqdn, ip, strings.TrimSpace(out))
		}
		return "", fmt.Errorf("nslookup %s (want %s = %s): %w", name, fqdn, ip, err)
	}
	full, err := resolve(fqdn)
	if err != nil {
		return "", err
	}
	if _, err := resolve("web"); err != nil {
		return "", err
	}
	// nc resolves through the pod's resolv.conf (libc), as applications
	// do: the short name and the namespaced name through the search path
	// (busybox nslookup did not answer for web.NAMESPACE in a T0 pod).
	var out string
	for _, name := range []string{"web", "web." + ns} {
		out, err = r.kubectl("", "-n", ns, "exec", "client", "--", "sh", "-c",
			"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 "+name+" 80")
		if err == nil && !strings.Contains(out, "verify-ok") {
			err = fmt.Errorf("GET http://%s/ answered %q", name, out)
		}
		if err != nil {
			break
		}
	}
	return fmt.Sprintf("pod client: %s and the short name web via %s (CoreDNS); GET http://web/ and http://web."+ns+"/: %s",
		full, strings.TrimSpace(dnsIP), lastLine(out)), err
}

// noStorage says why the storage check cannot run: no default
// StorageClass.
func (r *runner) noStorage() string {
	out, err := r.kubectl("", "get", "storageclass", "-o",
		`jsonpath={range .items[*]}{.metadata.name}={.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}{"\n"}{end}`)
	if err != nil {
		return "cannot list the StorageClasses: " + err.Error()
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, "=true") {
			return ""
		}
	}
	return "no default StorageClass (launched with --no-addons, or the add-on images were not built: `make addons`)"
}

// storageManifest is a claim of the default StorageClass (none named) and
// a pod that mounts it at /data.
func storageManifest(ns string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: %[1]s}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 16Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: storage, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: storage
    image: docker.io/library/busybox:1.35
    imagePullPolicy: Never
    command: ["sleep", "3600"]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
`, ns)
}

// checkStorage has a pod write to a claim of the default StorageClass,
// deletes the pod, creates it again and reads the data back.
func (r *runner) checkStorage() (string, error) {
	ns := r.o.Namespace
	manifest := storageManifest(ns)
	token := fmt.Sprintf("kprobe-data-%d", time.Now().UnixNano())
	start := func() error {
		if _, err := r.kubectl(manifest, "apply", "-f", "-"); err != nil {
			return err
		}
		_, err := r.kubectl("", "-n", ns, "wait", "--for=condition=Ready", "pod/storage", "--timeout=90s")
		if err != nil {
			ev, _ := r.kubectl("", "-n", ns, "get", "events", "--sort-by=.lastTimestamp", "-o",
				"custom-columns=OBJECT:.involvedObject.name,REASON:.reason,MESSAGE:.message", "--no-headers")
			err = fmt.Errorf("%w; events: %s", err, firstLines(lastLines(ev, 4), 4))
		}
		return err
	}
	if err := start(); err != nil {
		return "", err
	}
	if _, err := r.kubectl("", "-n", ns, "exec", "storage", "--", "sh", "-c", "echo "+token+" > /data/proof && sync"); err != nil {
		return "", err
	}
	pv, err := r.kubectl("", "-n", ns, "get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}")
	if err != nil {
		return "", err
	}
	where, _ := r.kubectl("", "get", "pv", pv, "-o", "jsonpath={.spec.hostPath.path}{.spec.local.path}")
	if _, err := r.kubectl("", "-n", ns, "delete", "pod", "storage", "--wait=true", "--timeout=60s"); err != nil {
		return "", err
	}
	if err := start(); err != nil {
		return "", fmt.Errorf("the pod again: %w", err)
	}
	out, err := r.kubectl("", "-n", ns, "exec", "storage", "--", "cat", "/data/proof")
	if err == nil && strings.TrimSpace(out) != token {
		err = fmt.Errorf("the recreated pod read %q, not %q", strings.TrimSpace(out), token)
	}
	return fmt.Sprintf("PVC data bound to %s (%s); written, pod deleted and recreated, read back", pv, where), err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
