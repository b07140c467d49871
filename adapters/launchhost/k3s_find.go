package launchhost

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kprobe/kprobe/adapters/install"
)

// lookupK3s returns the k3s binary to run: flagPath (from launch --bin-dir)
// when given, else k3s on $PATH, else k3s in kprobe's own bin dir (where
// `kprobe install k3s` puts it). The error says how to get one. (It lives
// here, not in the k3s renderer, which imports nothing that executes.)
func lookupK3s(flagPath string) (string, error) {
	return lookupK3sIn(flagPath, exec.LookPath, install.BinDir)
}

func lookupK3sIn(flagPath string, lookPath func(string) (string, error), binDir func() (string, error)) (string, error) {
	if flagPath != "" {
		if err := executable(flagPath); err != nil {
			return "", fmt.Errorf("%s: %w", flagPath, err)
		}
		return filepath.Abs(flagPath)
	}
	var tried []string
	if p, err := lookPath("k3s"); err == nil {
		return filepath.Abs(p)
	}
	tried = append(tried, "$PATH")
	dir, err := binDir()
	if err == nil {
		p := filepath.Join(dir, "k3s")
		switch err := executable(p); {
		case err == nil:
			return p, nil
		case errors.Is(err, os.ErrNotExist):
			tried = append(tried, dir)
		default:
			return "", fmt.Errorf("%s: %w; reinstall it with `kprobe install k3s --version VERSION`", p, err)
		}
	}
	return "", fmt.Errorf("k3s not found (looked in %s). Get it with one of:\n"+
		"  kprobe install k3s --version v1.32.2+k3s1      download a release from github.com/k3s-io/k3s and check its sha256\n"+
		"  kprobe install k3s --from FILE [--sha256-file F]  install a k3s binary you already have\n"+
		"or pass the directory that holds it to kprobe launch --bin-dir DIR", strings.Join(tried, " and "))
}

// executable checks that p is a regular file someone may execute.
func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file")
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("not executable (mode %s); chmod +x it", fi.Mode().Perm())
	}
	return nil
}

// FindK3s says whether a k3s binary is available, with how to get one.
func FindK3s(binDir string) error {
	_, err := FindK3sPath(binDir)
	return err
}

// FindK3sPath looks in --bin-dir first, then where lookupK3s looks.
func FindK3sPath(binDir string) (string, error) {
	flag := ""
	if binDir != "" {
		if p := filepath.Join(binDir, "k3s"); exists(p) {
			flag = p
		}
	}
	return lookupK3s(flag)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
