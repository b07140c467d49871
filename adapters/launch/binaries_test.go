package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Missing image archives are the user's setup, like a missing binary: a
// PreflightError, which the command line maps to bad input (exit 3).
func TestFindImagesMissingIsPreflight(t *testing.T) {
	_, _, err := FindImages(t.TempDir())
	var pe *PreflightError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "make images") {
		t.Fatalf("FindImages of an empty dir: %v (%T), want a PreflightError naming make images", err, err)
	}
	dir := t.TempDir()
	for _, n := range []string{"pause.tar", "busybox.tar"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if p, b, err := FindImages(dir); err != nil || p != filepath.Join(dir, "pause.tar") || b != filepath.Join(dir, "busybox.tar") {
		t.Fatalf("FindImages(%s) = %q, %q, %v", dir, p, b, err)
	}
}
