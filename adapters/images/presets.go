package images

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"
	"time"
)

// PauseImage is the sandbox image, PauseName, holding pauseBinary (a
// static build of hack/images/pause) as /pause. It runs as 65535:65535,
// as the upstream image does.
func PauseImage(pauseBinary string) Image {
	return Image{
		Name:       PauseName,
		Files:      []File{{Path: "/pause", Source: pauseBinary, Mode: 0o755}},
		Entrypoint: []string{"/pause"},
		User:       "65535:65535",
		Env:        []string{DefaultPath},
		WorkingDir: "/",
	}
}

// Accounts of the busybox image: root and nobody, as in the upstream
// image.
const (
	busyboxPasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
	busyboxGroup  = "root:x:0:\nnobody:x:65534:\n"
)

// BusyboxImage is the test pods' image, BusyboxName: busyboxBinary as
// /bin/busybox with a symlink in /bin for every applet it lists
// ("busybox --list"), /usr/bin/env for scripts' shebangs, /etc/passwd and
// /etc/group with root and nobody, /root and a sticky /tmp. The command is
// "sh". The binary must be statically linked (Debian's busybox-static):
// the image has no libc.
func BusyboxImage(busyboxBinary string) (Image, error) {
	if err := checkStatic(busyboxBinary); err != nil {
		return Image{}, err
	}
	applets, err := busyboxApplets(busyboxBinary)
	if err != nil {
		return Image{}, err
	}
	files := []File{
		{Path: "/bin/busybox", Source: busyboxBinary, Mode: 0o755},
		{Path: "/etc/passwd", Data: []byte(busyboxPasswd), Mode: 0o644},
		{Path: "/etc/group", Data: []byte(busyboxGroup), Mode: 0o644},
		{Path: "/root", Mode: fs.ModeDir | 0o700},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}
	hasEnv := false
	for _, a := range applets {
		files = append(files, File{Path: "/bin/" + a, Symlink: "busybox"})
		hasEnv = hasEnv || a == "env"
	}
	if hasEnv {
		files = append(files, File{Path: "/usr/bin/env", Symlink: "/bin/env"})
	}
	return Image{
		Name:  BusyboxName,
		Files: files,
		Cmd:   []string{"sh"},
		Env:   []string{DefaultPath},
	}, nil
}

// busyboxApplets runs "busybox --list": one applet name a line.
func busyboxApplets(binary string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, "--list")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %v: %s", binary, err, strings.TrimSpace(stderr.String()))
	}
	seen := map[string]bool{}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || seen[a] {
			continue
		}
		if strings.ContainsAny(a, "/\x00") || a == "." || a == ".." {
			return nil, fmt.Errorf("%s --list: odd applet name %q", binary, a)
		}
		seen[a] = true
		applets = append(applets, a)
	}
	if !seen["sh"] {
		return nil, fmt.Errorf("%s --list: no sh applet among %d", binary, len(applets))
	}
	return applets, nil
}

// CheckStatic fails for a binary that needs a dynamic loader: the images
// have no libc. fix says how to get a static one.
func CheckStatic(binary, fix string) error {
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("%s: %w", binary, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked and the image has no libc: %s", binary, fix)
		}
	}
	return nil
}

func checkStatic(binary string) error {
	return CheckStatic(binary, "use a static busybox (Debian: apt-get install busybox-static)")
}
