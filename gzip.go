package ferry

import (
	"compress/gzip"
	"errors"
	"io"
)

// gzipReader decompresses a response body that ferry asked to be gzipped,
// as http.Transport does: lazily, on the first Read.
type gzipReader struct {
	body io.ReadCloser
	zr   *gzip.Reader
	err  error
}

var errReadOnClosedResBody = errors.New("ferry: read on closed response body")

func (g *gzipReader) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.zr == nil {
		zr, err := gzip.NewReader(g.body)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			g.err = err
			return 0, err
		}
		g.zr = zr
	}
	n, err := g.zr.Read(p)
	if err == io.EOF {
		// Read the underlying body to its end, so the connection goes back
		// to the pool even if the caller never calls Close.
		var one [1]byte
		if m, _ := g.body.Read(one[:]); m > 0 {
			err = errors.New("ferry: data after the end of the gzip stream")
		}
	}
	if err != nil {
		g.err = err
	}
	return n, err
}

func (g *gzipReader) Close() error {
	if g.err == nil {
		g.err = errReadOnClosedResBody
	}
	return g.body.Close()
}
