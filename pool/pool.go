package pool

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ferryhttp/ferry/conn"
)

// DefaultMaxIdleConnsPerHost is the idle limit per key when
// Options.MaxIdleConnsPerHost is zero, as net/http's.
const DefaultMaxIdleConnsPerHost = 2

// Key says where a connection goes; connections are shared only within a key.
//
//   - Direct: Scheme, Addr of the target.
//   - Tunnel: Proxy, Scheme, Addr of the target, and Extra (the per-request
//     CONNECT headers), so a tunnel made with some headers or credentials is
//     never handed to a request with others.
//   - Forward: Proxy only: one pool per proxy serves every origin, as
//     urllib3's ProxyManager does.
type Key struct {
	Proxy  string // the proxy URL with its credentials; "" without a proxy
	Scheme string // the target's scheme; "" in forward mode
	Addr   string // the target's host:port; "" in forward mode
	Extra  string // canonical per-request tunnel headers; usually ""
}

// Options are the limits of a Pool, with http.Transport's names and meanings.
type Options struct {
	// MaxIdleConns limits idle connections across all keys; zero means no limit.
	MaxIdleConns int
	// MaxIdleConnsPerHost limits idle connections per key; zero means
	// DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// MaxConnsPerHost limits connections per key, dialling, in use and idle;
	// Get waits when it is reached. Zero means no limit.
	MaxConnsPerHost int
	// IdleConnTimeout closes a connection idle for longer; zero means never.
	IdleConnTimeout time.Duration
	// DisableKeepAlives makes every connection carry one request.
	DisableKeepAlives bool
	// StrictMaxConcurrentStreams keeps GetMux from dialling another
	// connection when the HTTP/2 ones of a key are at their streams limit:
	// callers wait (http.HTTP2Config.StrictMaxConcurrentRequests).
	StrictMaxConcurrentStreams bool
}

func (o *Options) maxIdlePerHost() int {
	if o.MaxIdleConnsPerHost > 0 {
		return o.MaxIdleConnsPerHost
	}
	return DefaultMaxIdleConnsPerHost
}

// Entry is a connection that belongs to a pool. The goroutine that got it
// from Get owns it until it calls Put or Discard (or its Body does).
type Entry struct {
	Conn *conn.Conn
	// H2 is set when the connection speaks HTTP/2: the ClientConn then owns
	// the network connection and Conn only describes it. See GetMux.
	H2  *http.ClientConn
	key Key
	// HTTP/2 entries, guarded by Pool.mu: gone, it left the pool; streams
	// lent by GetMux and not yet ended with MuxDone.
	gone    bool
	streams int
	// maxStreams is the server's MAX_CONCURRENT_STREAMS as ferry read it
	// (conn.H2Peer): -1 until its SETTINGS frame arrived, 0 for no limit
	// beyond the engine's count.
	maxStreams int

	// Guarded by Pool.mu while idle.
	idleSince  time.Time
	prev, next *Entry // the pool's idle list, oldest first
	idle       bool
}

// IdleSince reports when the entry last went idle (zero for a new connection).
func (e *Entry) IdleSince() time.Time { return e.idleSince }

// Pool keeps connections per Key for reuse. It is safe for concurrent use.
type Pool struct {
	opts Options

	mu        sync.Mutex
	idle      map[Key][]*Entry // per key, most recently used last
	oldest    *Entry           // idle list across keys, oldest first
	newest    *Entry
	idleCount int
	total     map[Key]int // open connections per key (MaxConnsPerHost)
	waiters   map[Key][]chan struct{}
	sweep     *time.Timer // closes expired idle connections

	// HTTP/2 (multiplex.go): shared connections per key, dials in flight
	// from GetMux, the protocol a key's connections speak, and a counter of
	// wake-ups so a GetMux that looked at stale state looks again.
	shared     map[Key][]*Entry
	muxDialing map[Key]int
	learned    map[Key]uint8
	gen        uint64
}

// New returns an empty pool with the given limits.
func New(opts Options) *Pool {
	return &Pool{
		opts:    opts,
		idle:    make(map[Key][]*Entry),
		total:   make(map[Key]int),
		waiters: make(map[Key][]chan struct{}),

		shared:     make(map[Key][]*Entry),
		muxDialing: make(map[Key]int),
		learned:    make(map[Key]uint8),
	}
}

// Get returns an idle connection for key, or a new one from dial. reused
// reports which. When MaxConnsPerHost connections for key exist, Get waits for
// one to come back or go, or for ctx to end. Idle connections that expired or
// that the peer closed are dropped on the way.
//
// checkAlive asks for a look at the socket of an idle connection (one
// non-blocking system call) before it is handed out; callers whose request
// can be retried on a fresh connection may skip it.
func (p *Pool) Get(ctx context.Context, key Key, dial func(context.Context) (*conn.Conn, error), checkAlive bool) (e *Entry, reused bool, err error) {
	return p.get(ctx, key, dial, true, checkAlive)
}

// Dial returns a new connection for key from dial, never an idle one (for a
// retry after a reused connection failed). MaxConnsPerHost still applies; at
// the limit, an idle connection of key is closed to make room.
func (p *Pool) Dial(ctx context.Context, key Key, dial func(context.Context) (*conn.Conn, error)) (*Entry, error) {
	e, _, err := p.get(ctx, key, dial, false, false)
	return e, err
}

func (p *Pool) get(ctx context.Context, key Key, dial func(context.Context) (*conn.Conn, error), useIdle, checkAlive bool) (*Entry, bool, error) {
	for {
		p.mu.Lock()
		if useIdle {
			if e := p.popIdleLocked(key); e != nil {
				p.mu.Unlock()
				if p.expired(e, time.Now()) || (checkAlive && !e.Conn.Alive()) {
					p.Discard(e)
					continue
				}
				return e, true, nil
			}
		}
		if max := p.opts.MaxConnsPerHost; max <= 0 || p.total[key] < max {
			p.total[key]++
			p.mu.Unlock()
			c, err := dial(ctx)
			if err != nil {
				p.mu.Lock()
				p.decLocked(key)
				p.mu.Unlock()
				return nil, false, err
			}
			return &Entry{Conn: c, key: key}, false, nil
		}
		if !useIdle {
			// At the limit: an idle connection of this key can make room.
			if e := p.popIdleLocked(key); e != nil {
				p.mu.Unlock()
				p.Discard(e)
				continue
			}
		}
		if err := p.waitTurnLocked(ctx, key); err != nil {
			return nil, false, err
		}
	}
}

// Put returns the connection of e, whose request is finished, for reuse; it
// is closed instead when it cannot carry another request or the idle limits
// are reached. It reports whether the connection was kept.
func (p *Pool) Put(e *Entry) bool {
	if p.opts.DisableKeepAlives || !e.Conn.Reusable() {
		p.Discard(e)
		return false
	}
	now := time.Now()
	var evict *Entry
	p.mu.Lock()
	if len(p.idle[e.key]) >= p.opts.maxIdlePerHost() {
		p.mu.Unlock()
		p.Discard(e)
		return false
	}
	if max := p.opts.MaxIdleConns; max > 0 && p.idleCount >= max {
		evict = p.oldest
		p.unlinkLocked(evict)
		if !p.closableLocked(evict) {
			evict = nil
		}
	}
	e.idleSince = now
	p.idle[e.key] = append(p.idle[e.key], e)
	p.linkLocked(e)
	if t := p.opts.IdleConnTimeout; t > 0 && p.sweep == nil {
		p.sweep = time.AfterFunc(t, p.sweepExpired)
	}
	p.wakeLocked(e.key)
	p.mu.Unlock()
	if evict != nil {
		p.Discard(evict)
	}
	return true
}

// Discard closes the connection of e and forgets it.
func (p *Pool) Discard(e *Entry) {
	if e.H2 != nil {
		p.discardMux(e)
		return
	}
	e.Conn.Close()
	p.mu.Lock()
	p.decLocked(e.key)
	p.mu.Unlock()
}

// CloseIdle closes every idle connection. Connections in use are not touched.
func (p *Pool) CloseIdle() {
	p.mu.Lock()
	var all []*Entry
	for e := p.oldest; e != nil; e = e.next {
		all = append(all, e)
	}
	for _, e := range all {
		p.unlinkLocked(e)
	}
	all = slices.DeleteFunc(all, func(e *Entry) bool { return !p.closableLocked(e) })
	clear(p.idle)
	if p.sweep != nil {
		p.sweep.Stop()
		p.sweep = nil
	}
	p.mu.Unlock()
	for _, e := range all {
		p.Discard(e)
	}
}

// Stats is a snapshot of a pool, for tests and diagnostics.
type Stats struct {
	Idle  int // idle connections
	Open  int // open connections (idle, in use, and being dialled)
	Waits int // Get calls waiting for MaxConnsPerHost
}

// Stats returns a snapshot of the pool.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Idle: p.idleCount}
	for _, n := range p.total {
		s.Open += n
	}
	for _, w := range p.waiters {
		s.Waits += len(w)
	}
	return s
}

func (p *Pool) expired(e *Entry, now time.Time) bool {
	t := p.opts.IdleConnTimeout
	return t > 0 && now.Sub(e.idleSince) >= t
}

// popIdleLocked takes the most recently used idle connection of key.
func (p *Pool) popIdleLocked(key Key) *Entry {
	list := p.idle[key]
	if len(list) == 0 {
		return nil
	}
	e := list[len(list)-1]
	list[len(list)-1] = nil
	// The empty slice stays in the map for the next Put (no allocation);
	// CloseIdle and the sweeper drop empty keys.
	p.idle[key] = list[:len(list)-1]
	p.unlinkFromListLocked(e)
	return e
}

// unlinkLocked removes e from the idle structures (the per-key slice and the list).
func (p *Pool) unlinkLocked(e *Entry) {
	list := p.idle[e.key]
	for i, x := range list {
		if x == e {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(p.idle, e.key)
	} else {
		p.idle[e.key] = list
	}
	p.unlinkFromListLocked(e)
}

func (p *Pool) linkLocked(e *Entry) {
	e.idle = true
	e.prev, e.next = p.newest, nil
	if p.newest != nil {
		p.newest.next = e
	} else {
		p.oldest = e
	}
	p.newest = e
	p.idleCount++
}

func (p *Pool) unlinkFromListLocked(e *Entry) {
	if !e.idle {
		return
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		p.oldest = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		p.newest = e.prev
	}
	e.prev, e.next, e.idle = nil, nil, false
	p.idleCount--
}

func (p *Pool) decLocked(key Key) {
	if n := p.total[key] - 1; n > 0 {
		p.total[key] = n
	} else {
		delete(p.total, key)
		// The next connection to this key finds its protocol anew.
		delete(p.learned, key)
	}
	p.wakeLocked(key)
}

// wakeLocked lets the longest waiting Get for key try again.
func (p *Pool) wakeLocked(key Key) {
	p.gen++
	w := p.waiters[key]
	if len(w) == 0 {
		return
	}
	close(w[0])
	if len(w) == 1 {
		delete(p.waiters, key)
	} else {
		p.waiters[key] = w[1:]
	}
}

// waitTurnLocked queues the caller for key and waits until it is woken (a
// connection of key came back or went) or ctx ends. It is called with p.mu
// held and returns with it released.
func (p *Pool) waitTurnLocked(ctx context.Context, key Key) error {
	ch := make(chan struct{})
	p.waiters[key] = append(p.waiters[key], ch)
	p.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		if !p.removeWaiterLocked(key, ch) {
			// We were woken as we gave up: pass the turn on.
			p.wakeLocked(key)
		}
		p.mu.Unlock()
		return ctx.Err()
	}
}

func (p *Pool) removeWaiterLocked(key Key, ch chan struct{}) bool {
	w := p.waiters[key]
	for i, x := range w {
		if x == ch {
			w = append(w[:i:i], w[i+1:]...)
			if len(w) == 0 {
				delete(p.waiters, key)
			} else {
				p.waiters[key] = w
			}
			return true
		}
	}
	return false
}

// sweepExpired closes idle connections past IdleConnTimeout and re-arms
// itself for the next one to expire.
func (p *Pool) sweepExpired() {
	now := time.Now()
	var expired []*Entry
	p.mu.Lock()
	for e := p.oldest; e != nil && p.expired(e, now); e = p.oldest {
		p.unlinkLocked(e)
		if p.closableLocked(e) {
			expired = append(expired, e)
		}
	}
	p.sweep = nil
	for k, list := range p.idle {
		if len(list) == 0 {
			delete(p.idle, k)
		}
	}
	if p.oldest != nil {
		p.sweep = time.AfterFunc(p.opts.IdleConnTimeout-now.Sub(p.oldest.idleSince), p.sweepExpired)
	}
	p.mu.Unlock()
	for _, e := range expired {
		p.Discard(e)
	}
}
