package signatures

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Source is a log file and the component that writes it.
type Source struct {
	Path      string
	Component Component
}

// SourcesIn lists the *.log files of dir, each named after its file
// (kubelet.log is the kubelet's log): the layout of <data-dir>/logs.
func SourcesIn(dir string) ([]Source, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Source, 0, len(names))
	for _, n := range names {
		out = append(out, Source{Path: n, Component: Component(strings.TrimSuffix(filepath.Base(n), ".log"))})
	}
	return out, nil
}

// DefaultInterval is how often a Watcher polls its files.
const DefaultInterval = 100 * time.Millisecond

// readChunk is how much a Watcher reads at a time.
const readChunk = 32 << 10

// maxJoined bounds the continuation lines of one klog multi-line value.
const maxJoined = 256

// Watcher tails log files and reports the first hit of each signature code.
// It polls: no inotify, nothing but the files' bytes. Memory is bounded by
// MaxLine per file, whatever the files hold.
type Watcher struct {
	Sources []Source
	// Table is the signature table; nil means Table.
	Table []Signature
	// Interval between polls; 0 means DefaultInterval.
	Interval time.Duration
	// FromStart reads what the files hold already; by default only lines
	// written after Watch starts count. A file that appears (or is
	// truncated, or replaced) later is always read from its start.
	FromStart bool
}

// Watch tails the files until ctx ends and sends each code's first hit.
// The channel is closed when ctx ends and the files are closed; a reader
// that stops reading does not keep the goroutine alive past ctx.
func (w *Watcher) Watch(ctx context.Context) <-chan Hit {
	table := w.Table
	if table == nil {
		table = Table()
	}
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	out := make(chan Hit, len(table)+1)
	tails := make([]*tail, len(w.Sources))
	for i, s := range w.Sources {
		tails[i] = &tail{src: s}
		if !w.FromStart {
			tails[i].open(true)
		}
	}
	go func() {
		defer close(out)
		defer func() {
			for _, t := range tails {
				t.close()
			}
		}()
		seen := map[string]bool{}
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			for _, t := range tails {
				var pending []Hit
				t.poll(func(line string) {
					if h := MatchIn(table, t.src.Component, line); h != nil && !seen[h.Signature.Code] {
						seen[h.Signature.Code] = true
						h.File = t.src.Path
						pending = append(pending, *h)
					}
				})
				for _, h := range pending {
					select {
					case out <- h:
					case <-ctx.Done():
						return
					}
				}
			}
			timer.Reset(interval)
		}
	}()
	return out
}

// tail follows one file across truncation and replacement (rotation by
// rename or by a new file at the same path).
type tail struct {
	src   Source
	f     *os.File
	fi    os.FileInfo
	off   int64
	lines splitter
	join  joiner
	buf   []byte
}

// open opens the file if it exists: at its end when atEnd, else at its
// start.
func (t *tail) open(atEnd bool) bool {
	f, err := os.Open(t.src.Path)
	if err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return false
	}
	t.f, t.fi, t.off = f, fi, 0
	if atEnd {
		t.off = fi.Size()
	}
	return true
}

func (t *tail) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// poll reads what was written since the last poll and emits whole lines.
func (t *tail) poll(emit func(string)) {
	if t.f == nil && !t.open(false) {
		return
	}
	emitJoined := func(line string) { t.join.add(line, emit) }
	got := t.drain(emitJoined)
	// Replaced (rotated, or removed and created again)? The old file has
	// been read to its end; its unterminated last line is complete now.
	if now, err := os.Stat(t.src.Path); err == nil && !os.SameFile(now, t.fi) {
		t.lines.end(emitJoined)
		t.join.flush(emit)
		t.close()
		if t.open(false) {
			got = t.drain(emitJoined) || got
		}
	}
	if !got {
		// Idle: a klog multi-line value without its closing " >" line is
		// matched as it stands.
		t.join.flush(emit)
	}
}

// drain reads the open file from the offset to its end.
func (t *tail) drain(emit func(string)) bool {
	fi, err := t.f.Stat()
	if err != nil {
		return false
	}
	if fi.Size() < t.off {
		// Truncated (copytruncate, or the launcher reusing the file).
		t.off = 0
		t.lines.reset()
		t.join.reset()
	}
	if t.buf == nil {
		t.buf = make([]byte, readChunk)
	}
	got := false
	for {
		n, err := t.f.ReadAt(t.buf, t.off)
		if n > 0 {
			got = true
			t.off += int64(n)
			t.lines.feed(t.buf[:n], emit)
		}
		if err != nil || n == 0 {
			return got
		}
	}
}

// splitter cuts a byte stream into lines of at most MaxLine bytes.
type splitter struct {
	buf  []byte
	long bool // the current line passed MaxLine; the rest is dropped
}

func (s *splitter) feed(p []byte, emit func(string)) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.add(p)
			return
		}
		s.add(p[:i])
		s.emit(emit)
		p = p[i+1:]
	}
}

func (s *splitter) add(p []byte) {
	if room := MaxLine - len(s.buf); len(p) > room {
		p, s.long = p[:room], true
	}
	s.buf = append(s.buf, p...)
}

func (s *splitter) emit(emit func(string)) {
	line := strings.TrimSuffix(string(s.buf), "\r")
	s.reset()
	emit(line)
}

// end emits an unterminated last line.
func (s *splitter) end(emit func(string)) {
	if len(s.buf) > 0 {
		s.emit(emit)
	}
}

func (s *splitter) reset() {
	if cap(s.buf) > 4*readChunk {
		s.buf = nil // do not keep a long line's buffer
	}
	s.buf, s.long = s.buf[:0], false
}

// joiner rebuilds klog's multi-line values: a line ending in `=<`, then
// lines indented by a tab, then a line starting with " >" (the rest of
// the key/value pairs may follow it).
type joiner struct {
	parts []string
	size  int
}

func (j *joiner) add(line string, emit func(string)) {
	if len(j.parts) > 0 {
		switch {
		case strings.HasPrefix(line, "\t"):
			j.push(strings.TrimSpace(line))
			if len(j.parts) > maxJoined {
				j.flush(emit)
			}
			return
		case strings.HasPrefix(line, " >"):
			j.push(strings.TrimSpace(line[2:]))
			j.flush(emit)
			return
		}
		j.flush(emit)
	}
	if strings.HasSuffix(line, "=<") {
		j.push(line)
		return
	}
	emit(line)
}

// push adds a part; past MaxLine bytes the rest of the value is dropped.
func (j *joiner) push(s string) {
	if len(j.parts) > 0 && (s == "" || j.size >= MaxLine) {
		return
	}
	j.parts = append(j.parts, s)
	j.size += len(s) + 1
}

func (j *joiner) flush(emit func(string)) {
	if len(j.parts) == 0 {
		return
	}
	line := strings.Join(j.parts, " ")
	j.reset()
	if len(line) > MaxLine {
		line = line[:MaxLine]
	}
	emit(line)
}

func (j *joiner) reset() { j.parts, j.size = j.parts[:0], 0 }

// Scan reads a whole log of component log and returns the first hit of
// each code, in the order they occur.
func Scan(r io.Reader, log Component) ([]Hit, error) {
	return scan(Table(), r, Source{Component: log}, map[string]bool{})
}

// ScanFiles scans each source in turn (a missing file is skipped) and
// returns the first hit of each code across them.
func ScanFiles(sources []Source) ([]Hit, error) {
	seen := map[string]bool{}
	var hits []Hit
	for _, s := range sources {
		f, err := os.Open(s.Path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return hits, err
		}
		h, err := scan(Table(), f, s, seen)
		f.Close()
		hits = append(hits, h...)
		if err != nil {
			return hits, err
		}
	}
	return hits, nil
}

func scan(table []Signature, r io.Reader, src Source, seen map[string]bool) ([]Hit, error) {
	var hits []Hit
	match := func(line string) {
		if h := MatchIn(table, src.Component, line); h != nil && !seen[h.Signature.Code] {
			seen[h.Signature.Code] = true
			h.File = src.Path
			hits = append(hits, *h)
		}
	}
	var lines splitter
	var join joiner
	joined := func(line string) { join.add(line, match) }
	buf := make([]byte, readChunk)
	for {
		n, err := r.Read(buf)
		lines.feed(buf[:n], joined)
		if err == io.EOF {
			break
		}
		if err != nil {
			return hits, err
		}
	}
	lines.end(joined)
	join.flush(match)
	return hits, nil
}
