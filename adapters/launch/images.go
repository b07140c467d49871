package launch

import (
	"os"
	"path/filepath"

	"github.com/kprobe/kprobe/adapters/install"
)

// FindImages locates the image archives `make images` builds.
func FindImages(dir string) (pause, busybox string, err error) {
	dirs := []string{}
	if dir != "" {
		dirs = append(dirs, dir)
	}
	if exe, e := os.Executable(); e == nil {
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "images"))
	}
	for _, d := range dirs {
		p, b := filepath.Join(d, "pause.tar"), filepath.Join(d, "busybox.tar")
		if _, e1 := os.Stat(p); e1 == nil {
			if _, e2 := os.Stat(b); e2 == nil {
				return p, b, nil
			}
		}
	}
	// A PreflightError: the user's setup, not kprobe, is missing them.
	return "", "", &PreflightError{Problems: []string{"the pause and busybox image archives (pause.tar, busybox.tar) are missing: no registry can be reached, so install them with `kprobe install kubernetes`, build them with `make images`, or pass --images-dir"}}
}

// installedImages is the images dir to use: the user's --images-dir, else
// the images/ of the --bin-dir or the default dir `kprobe install
// kubernetes` filled, else "" (kprobe's own bin/images is looked in later).
func installedImages(imagesDir, binDir string) string {
	if imagesDir != "" {
		return imagesDir
	}
	var dirs []string
	if binDir != "" {
		dirs = append(dirs, filepath.Join(binDir, "images"))
	}
	if d, err := install.EngineDir(); err == nil {
		dirs = append(dirs, filepath.Join(d, "images"))
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pause.tar")); err == nil {
			return d
		}
	}
	return ""
}
