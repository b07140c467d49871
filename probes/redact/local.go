package redact

import (
	"github.com/kprobe/kprobe/probes/bounded"
	"os"
	"os/user"
	"path/filepath"
	"strings"
)

// Local returns the names that identify the machine under root ("/" for
// this one) and its people: the host names (kernel and /etc/hostname,
// and os.Hostname when root is "/"), and the login names of people
// (uid >= 1000 in /etc/passwd) with, for this machine, the current user.
func Local(root string) (hostnames, users []string) {
	for _, p := range []string{"proc/sys/kernel/hostname", "etc/hostname"} {
		if b, err := bounded.ReadFile(filepath.Join(root, p), bounded.KernelFile); err == nil {
			hostnames = append(hostnames, strings.TrimSpace(string(b)))
		}
	}
	if b, err := bounded.ReadFile(filepath.Join(root, "etc/passwd"), bounded.KernelFile); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) > 2 && len(f[2]) >= 4 && f[2] != "65534" {
				users = append(users, f[0])
			}
		}
	}
	if root == "/" {
		if h, err := os.Hostname(); err == nil {
			hostnames = append(hostnames, h)
		}
		if u, err := user.Current(); err == nil {
			users = append(users, u.Username)
		}
		for _, k := range []string{"USER", "LOGNAME", "SUDO_USER"} {
			users = append(users, os.Getenv(k))
		}
	}
	// A host name's first label stands for it too (devbox-7f3a for
	// devbox-7f3a.corp.example).
	for _, h := range hostnames {
		if short, _, ok := strings.Cut(h, "."); ok {
			hostnames = append(hostnames, short)
		}
	}
	return hostnames, users
}
