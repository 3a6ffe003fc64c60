package baggageclaimsim

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/routes"
)

// errLimit is a stream larger than the caller's ?limit=.
var errLimit = errors.New("limit exceeded")

// limitedReader fails once more than n bytes were read.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errLimit
	}
	return n, err
}

// streamIn extracts a tar into the volume, as the real server does: Content-Encoding raw or
// gzip (anything else, or none, is a 400), ?path= a directory inside the volume, ?limit= a size
// in MiB beyond which it answers 403 (keeping what it extracted before).
func (s *Server) streamIn(w http.ResponseWriter, r *http.Request, p routes.Params) {
	s.mu.Lock()
	v, ok := s.volumes[p["handle"]]
	s.mu.Unlock()
	if !ok {
		writeTextError(w, http.StatusNotFound, msgStream)
		return
	}
	q := r.URL.Query()
	sub := filepath.Clean("/" + q.Get("path"))
	dest := filepath.Join(v.Path, sub)
	var body io.Reader = r.Body
	var limit int64 = -1
	if l := q.Get("limit"); l != "" {
		mb, err := strconv.ParseFloat(l, 64)
		if err != nil || mb < 0 {
			writeTextError(w, http.StatusBadRequest, msgStream)
			return
		}
		limit = int64(mb * 1024 * 1024)
		body = &limitedReader{r: body, n: limit}
	}
	switch r.Header.Get("Content-Encoding") {
	case baggageclaim.EncodingRaw:
	case baggageclaim.EncodingGzip:
		zr, err := gzip.NewReader(body)
		if err != nil {
			writeTextError(w, http.StatusBadRequest, msgStream)
			return
		}
		defer zr.Close()
		body = zr
	default:
		writeTextError(w, http.StatusBadRequest, msgStream)
		return
	}
	err := extract(body, dest)
	switch {
	case errors.Is(err, errLimit):
		writeTextError(w, http.StatusForbidden, fmt.Sprintf("exceeded volume streaming limit of %dB", limit))
	case err != nil:
		writeTextError(w, http.StatusBadRequest, msgStream)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// extract writes the directories and regular files of a tar under dest, refusing any entry
// that would land outside it.
func extract(r io.Reader, dest string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("entry %q escapes the volume", h.Name)
		}
		target := filepath.Join(dest, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, os.FileMode(h.Mode).Perm()|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode).Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
