package pool

import (
	"errors"
	"io"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryhttp/ferry/conn"
)

// DefaultDrainLimit is how much of an unread response body Close reads so the
// connection can be reused; a longer rest closes the connection instead.
const DefaultDrainLimit = 256 << 10

// drainTimeout bounds the time Close spends draining.
const drainTimeout = 500 * time.Millisecond

// ErrBodyReadAfterClose is returned by Read on a Body after Close, as net/http does.
var ErrBodyReadAfterClose = errors.New("ferry: read on closed response body")

const (
	bodyOpen int32 = iota
	bodyDone
)

// Body is a response body that hands its connection back to the pool: when
// read to EOF (even if the caller never calls Close), or when closed with a
// short unread rest that it drains. On any read error, or a long rest, the
// connection is discarded. Read and Close may be called from different
// goroutines.
type Body struct {
	p  *Pool
	e  *Entry
	rc io.ReadCloser // the body as http.ReadResponse made it

	// DrainLimit overrides DefaultDrainLimit when positive.
	DrainLimit int64
	// Length is the response's ContentLength (-1 unknown): a known rest longer
	// than the drain limit is not read at all.
	Length int64
	// Trace, when set, gets PutIdleConn when the connection is handed back.
	Trace *httptrace.ClientTrace

	state   atomic.Int32
	reading atomic.Int32
	// readMu is held while rc is read, so that Close, once it has stopped a
	// Read under way in another goroutine, waits for that Read to leave the
	// connection before it is closed and cleared.
	readMu sync.Mutex
	eof    atomic.Bool // read to the end
	closed atomic.Bool // Close was called
}

// NewBody wraps rc, the body of a response read on e's connection.
func NewBody(p *Pool, e *Entry, rc io.ReadCloser) *Body {
	b := new(Body)
	b.Init(p, e, rc)
	return b
}

// Init sets up a Body in place (for callers that allocate it inside a larger
// struct). A Body must not be copied after Init.
func (b *Body) Init(p *Pool, e *Entry, rc io.ReadCloser) {
	b.p, b.e, b.rc, b.Length = p, e, rc, -1
}

// Read reads the body; at EOF the connection goes back to the pool.
func (b *Body) Read(buf []byte) (int, error) {
	b.reading.Add(1)
	if b.state.Load() != bodyOpen {
		b.reading.Add(-1)
		if b.eof.Load() && !b.closed.Load() {
			// Like net/http: reads after EOF keep saying EOF until Close.
			return 0, io.EOF
		}
		return 0, ErrBodyReadAfterClose
	}
	b.readMu.Lock()
	if b.state.Load() != bodyOpen {
		// Closed while we waited: the connection is no longer ours.
		b.readMu.Unlock()
		b.reading.Add(-1)
		return 0, ErrBodyReadAfterClose
	}
	n, err := b.rc.Read(buf)
	if err != nil && err != io.EOF {
		// Still under readMu: a Close waiting for this read clears the
		// connection's state once we let go.
		err = b.e.Conn.MapBodyError(err)
	}
	b.readMu.Unlock()
	b.reading.Add(-1)
	if err == io.EOF {
		b.eof.Store(true)
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

// Close ends the body. An unread rest of up to DrainLimit bytes is read so
// the connection can be reused; otherwise the connection is closed.
func (b *Body) Close() error {
	b.closed.Store(true)
	if !b.state.CompareAndSwap(bodyOpen, bodyDone) {
		return nil
	}
	if b.reading.Load() > 0 {
		// A Read is under way in another goroutine: closing the socket is
		// the only way to stop it. Only once it has returned may the
		// connection be closed and cleared.
		b.e.Conn.Abort()
		b.readMu.Lock()
		b.p.Discard(b.e)
		b.readMu.Unlock()
		b.putTrace(errors.New("ferry: body closed during read"))
		return nil
	}
	b.readMu.Lock()
	defer b.readMu.Unlock()
	if b.drain() {
		b.release()
	} else {
		b.p.Discard(b.e)
		b.putTrace(errors.New("ferry: body closed before EOF"))
	}
	return nil
}

func (b *Body) drain() bool {
	limit := b.DrainLimit
	if limit <= 0 {
		limit = DefaultDrainLimit
	}
	return Drain(b.e.Conn, b.rc, b.Length, limit)
}

// Drain reads and drops rc, the unread rest of a response body on c (length
// its ContentLength, -1 unknown), so that c can carry another request. It
// reports whether rc reached its end within limit bytes; it reads nothing
// when c cannot be reused anyway or a known length is over limit, and waits
// at most drainTimeout (500 ms) for the rest. When it reports false, the connection
// must be closed rather than reused.
func Drain(c *conn.Conn, rc io.Reader, length, limit int64) bool {
	if !c.KeepAlive() || length > limit {
		return false
	}
	c.SetExtraReadDeadline(time.Now().Add(drainTimeout))
	n, err := io.CopyN(io.Discard, rc, limit+1)
	c.SetExtraReadDeadline(time.Time{})
	return err == io.EOF && n <= limit
}

func (b *Body) finish(eof bool) {
	if !b.state.CompareAndSwap(bodyOpen, bodyDone) {
		return
	}
	if eof {
		b.release()
		return
	}
	b.p.Discard(b.e)
	b.putTrace(errors.New("ferry: response body read failed"))
}

func (b *Body) release() {
	if !b.e.Conn.Release() {
		b.p.Discard(b.e)
		b.putTrace(errors.New("ferry: connection not reusable"))
		return
	}
	if b.p.Put(b.e) {
		b.putTrace(nil)
	} else {
		b.putTrace(errors.New("ferry: idle pool full or keep-alives disabled"))
	}
}

func (b *Body) putTrace(err error) {
	if b.Trace != nil && b.Trace.PutIdleConn != nil {
		b.Trace.PutIdleConn(err)
	}
}
