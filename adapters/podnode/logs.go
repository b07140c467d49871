package podnode

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
)

// criLog writes a container's output in the CRI log format the kubelet's
// `kubectl logs` reads: "<RFC3339Nano> <stream> <F|P> <text>\n", one entry
// per line, P for the parts of a line longer than maxLine.
type criLog struct {
	mu sync.Mutex
	f  *os.File
}

const maxLine = 16 * 1024

func openCRILog(path string) (*criLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	return &criLog{f: f}, nil
}

// copyFrom copies r into the log as stream (stdout or stderr) until EOF.
func (l *criLog) copyFrom(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tag := "P"
			if line[len(line)-1] == '\n' {
				tag, line = "F", line[:len(line)-1]
			}
			l.write(stream, tag, line)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
	}
}

func (l *criLog) write(stream, tag string, msg []byte) {
	var b bytes.Buffer
	b.WriteString(time.Now().UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(msg)
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.f.Write(b.Bytes())
}

func (l *criLog) Close() error { return l.f.Close() }

// logEntry is one parsed CRI log line.
type logEntry struct {
	ts      time.Time
	stream  string
	partial bool
	msg     []byte
}

func parseCRILine(line []byte) (logEntry, bool) {
	parts := bytes.SplitN(line, []byte{' '}, 4)
	if len(parts) < 4 {
		return logEntry{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(parts[0]))
	if err != nil {
		return logEntry{}, false
	}
	return logEntry{ts: ts, stream: string(parts[1]), partial: string(parts[2]) == "P", msg: parts[3]}, true
}

// readLogs streams a CRI log file per the kubelet API's options. With
// Follow it keeps reading until ctx ends or running reports false and the
// file has no more data.
func readLogs(ctx context.Context, path string, opts api.ContainerLogOpts, running func() bool) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	since := opts.SinceTime
	if opts.SinceSeconds > 0 {
		since = time.Now().Add(-time.Duration(opts.SinceSeconds) * time.Second)
	}
	pr, pw := io.Pipe()
	go func() {
		defer f.Close()
		w := &limitWriter{w: pw, left: opts.LimitBytes}
		br := bufio.NewReader(f)
		emit := func(line []byte) bool {
			e, ok := parseCRILine(bytes.TrimRight(line, "\n"))
			if !ok || (!since.IsZero() && e.ts.Before(since)) {
				return true
			}
			var out []byte
			if opts.Timestamps {
				out = append(out, e.ts.Format(time.RFC3339Nano)...)
				out = append(out, ' ')
			}
			out = append(out, e.msg...)
			if !e.partial {
				out = append(out, '\n')
			}
			_, err := w.Write(out)
			return err == nil
		}
		if opts.Tail > 0 {
			lines := tailLines(br, opts.Tail)
			for _, l := range lines {
				if !emit(l) {
					pw.Close()
					return
				}
			}
		}
		var pending []byte
		for {
			line, err := br.ReadBytes('\n')
			pending = append(pending, line...)
			if err == nil {
				if !emit(pending) {
					pw.Close()
					return
				}
				pending = nil
				continue
			}
			if !opts.Follow {
				pw.Close()
				return
			}
			if !running() {
				// one more read after the writer stopped, then done
				if rest, _ := io.ReadAll(br); len(rest) > 0 {
					for _, l := range strings.SplitAfter(string(append(pending, rest...)), "\n") {
						if l != "" && !emit([]byte(l)) {
							break
						}
					}
				}
				pw.Close()
				return
			}
			select {
			case <-ctx.Done():
				pw.Close()
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return pr, nil
}

// tailLines reads all complete lines and keeps the last n.
func tailLines(br *bufio.Reader, n int) [][]byte {
	ring := make([][]byte, 0, n)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			// an incomplete last line stays unread for a follower
			if len(line) > 0 {
				ring = appendRing(ring, line, n)
			}
			return ring
		}
		ring = appendRing(ring, line, n)
	}
}

func appendRing(ring [][]byte, line []byte, n int) [][]byte {
	if len(ring) == n {
		copy(ring, ring[1:])
		ring = ring[:n-1]
	}
	return append(ring, line)
}

// limitWriter stops after left bytes when left > 0.
type limitWriter struct {
	w    io.Writer
	left int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 && l.left != 0 {
		return 0, io.EOF
	}
	if l.left > 0 {
		if len(p) > l.left {
			p = p[:l.left]
		}
		l.left -= len(p)
		if l.left == 0 {
			l.left = -1
		}
	}
	return l.w.Write(p)
}
