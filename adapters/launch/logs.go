package launch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kprobe/kprobe/adapters/supervise"
)

// Logs prints the last n lines of each named component's log (n < 0: all),
// prefixed with the component when there are several, and with follow
// keeps printing new lines until ctx ends.
func Logs(ctx context.Context, w io.Writer, l supervise.Layout, names []string, n int, follow bool) error {
	prefix := len(names) > 1
	offsets := map[string]int64{}
	for _, name := range names {
		path := l.Log(name)
		if name == "supervisor" {
			path = l.LogDir() + "/supervisor.log"
		}
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(w, "%s: %v\n", name, err)
			continue
		}
		offsets[path] = int64(len(data))
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if n >= 0 && len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		for _, line := range lines {
			if line == "" {
				continue
			}
			writeLine(w, prefix, name, line)
		}
	}
	if !follow {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		for _, name := range names {
			path := l.Log(name)
			if name == "supervisor" {
				path = l.LogDir() + "/supervisor.log"
			}
			f, err := os.Open(path)
			if err != nil {
				continue
			}
			if fi, err := f.Stat(); err == nil && fi.Size() < offsets[path] {
				offsets[path] = 0 // truncated or rotated
			}
			if _, err := f.Seek(offsets[path], io.SeekStart); err == nil {
				r := bufio.NewReader(f)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						break // a partial line waits for its end
					}
					offsets[path] += int64(len(line))
					writeLine(w, prefix, name, strings.TrimRight(line, "\n"))
				}
			}
			f.Close()
		}
	}
}

func writeLine(w io.Writer, prefix bool, name, line string) {
	if prefix {
		fmt.Fprintf(w, "%s | %s\n", name, line)
		return
	}
	fmt.Fprintln(w, line)
}
