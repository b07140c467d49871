package imagestore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ensureRoot unpacks img unless its root is already in the store.
// Concurrent calls for one image (by config digest) unpack it once: the
// others wait and share the result. compressed says to read the layers'
// blobs as stored (a registry) rather than their uncompressed form (a
// local archive), so progress counts downloaded bytes.
func (s *Store) ensureRoot(ctx context.Context, img v1.Image, ref string, p Progress, compressed bool) error {
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	_, err, _ = s.unpacks.Do(id.String(), func() (any, error) {
		if have, err := s.image(id.String()); err != nil || have != nil {
			return nil, err
		}
		return nil, s.unpackImage(ctx, img, id.String(), ref, p, compressed)
	})
	return err
}

func (s *Store) unpackImage(ctx context.Context, img v1.Image, id, ref string, p Progress, compressed bool) error {
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return fmt.Errorf("image has %d layers but its config lists %d", len(layers), len(cfg.RootFS.DiffIDs))
	}
	var total int64
	for _, l := range layers {
		if n, err := l.Size(); err == nil {
			total += n
		}
	}
	tmp, err := s.tmpDir("unpack")
	if err != nil {
		return err
	}
	defer removeTree(tmp)
	root := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	u := newUnpacker(root, s.o.MaxImageBytes, s.o.MaxEntries)
	pr := &progress{ref: ref, total: total, report: p}
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := applyLayer(ctx, u, l, cfg.RootFS.DiffIDs[i], pr, compressed); err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
	}
	pr.flush()
	unkept, err := u.finish()
	if err != nil {
		return err
	}
	if err := writeJSON(s.o.Dir, s.metaPath(id), imageMeta{ID: id, Config: *cfg, Size: u.bytes, Unkept: unkept}); err != nil {
		return err
	}
	if err := os.Rename(root, s.rootPath(id)); err != nil {
		if _, serr := os.Lstat(s.rootPath(id)); serr == nil {
			return nil // another process published the same image first
		}
		return err
	}
	return nil
}

// applyLayer unpacks one layer and checks its uncompressed digest against
// the config's diff ID.
func applyLayer(ctx context.Context, u *unpacker, l v1.Layer, diffID v1.Hash, pr *progress, compressed bool) error {
	var rc io.ReadCloser
	var err error
	if compressed {
		rc, err = l.Compressed()
	} else {
		rc, err = l.Uncompressed()
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	in := &ctxReader{ctx: ctx, r: rc, pr: pr, count: compressed}
	plain, err := decompress(in)
	if err != nil {
		return err
	}
	defer plain.Close()
	h := sha256.New()
	if err := u.apply(io.TeeReader(plain, h)); err != nil {
		return err
	}
	// Read the blob to its end: remote blobs verify their digest at EOF.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); diffID.String() != got {
		return fmt.Errorf("uncompressed digest %s, config says %s", got, diffID)
	}
	return nil
}

// decompress detects gzip, zstd or a plain tar by the stream's first bytes.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// ctxReader stops reading when ctx is done and counts bytes for progress.
type ctxReader struct {
	ctx   context.Context
	r     io.Reader
	pr    *progress
	count bool
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if c.count {
		c.pr.add(int64(n))
	}
	return n, err
}

// progress calls the caller's Progress at most once per MiB, and at the end.
type progress struct {
	ref         string
	done, total int64
	last        int64
	report      Progress
}

func (p *progress) add(n int64) {
	p.done += n
	if p.report != nil && p.done-p.last >= 1<<20 {
		p.last = p.done
		p.report(p.ref, p.done, p.total)
	}
}

func (p *progress) flush() {
	if p.report != nil && p.done != p.last {
		p.last = p.done
		p.report(p.ref, p.done, p.total)
	}
}
