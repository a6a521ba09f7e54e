package pool

import (
	"context"
	"net/http"
	"time"

	"github.com/ferryhttp/ferry/conn"
)

// MuxDial makes a new connection for a key that may speak HTTP/2: c is
// always set; cc is set when the connection speaks HTTP/2 (it then owns the
// network connection and carries many requests at once).
type MuxDial func(ctx context.Context) (c *conn.Conn, cc *http.ClientConn, err error)

// protocol learned for a key by its first connection.
const (
	protoUnknown uint8 = iota
	protoHTTP1
	protoHTTP2
)

// GetMux is Get for a key whose connections may speak HTTP/2. An HTTP/2
// entry (e.H2 set) is shared: GetMux counts one stream on it, which the
// caller sends with e.H2.RoundTrip and must end with MuxDone once (when the
// response body is finished, or the round trip failed). An HTTP/1.1 entry is
// owned as with Get.
//
// The pool counts streams itself rather than with ClientConn.Reserve (which
// costs allocations on every request): a connection is lent while its
// streams are fewer than the engine's limit (InFlight+Available, which
// follows the server's MAX_CONCURRENT_STREAMS). The engine retires a stream
// a moment after its body ended; a request that meets that lag waits inside
// the engine (strict mode) instead of going over the server's limit.
//
// When every HTTP/2 connection of key is at the server's
// MAX_CONCURRENT_STREAMS, GetMux dials another one if MaxConnsPerHost
// allows, and otherwise waits. While a connection to key is being dialled
// and its protocol is not known yet (or is HTTP/2), other callers wait for
// it instead of dialling their own (golang/go#13957); once it turns out to
// be HTTP/1.1 they dial as Get does.
//
// useIdle false asks for a new connection (a retry); reused reports whether
// the entry existed before this call.
func (p *Pool) GetMux(ctx context.Context, key Key, dial MuxDial, useIdle, checkAlive bool) (e *Entry, reused bool, err error) {
	for {
		p.mu.Lock()
		gen := p.gen
		pending := false // a connection of key waits for the server's SETTINGS
		if useIdle && len(p.shared[key]) > 0 {
			var e, dead *Entry
			e, dead, pending = p.pickMuxLocked(key)
			if e != nil {
				p.mu.Unlock()
				return e, true, nil
			}
			if dead != nil {
				p.mu.Unlock()
				p.discardMux(dead)
				continue
			}
		}
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
		if p.gen != gen {
			// A stream or connection came free while we looked.
			p.mu.Unlock()
			continue
		}
		// A dial in flight for a key that is, or may be, HTTP/2 brings
		// streams for many: wait for it rather than dial too.
		firstInFlight := p.learned[key] != protoHTTP1 && p.muxDialing[key] > 0 || pending ||
			p.opts.StrictMaxConcurrentStreams && len(p.shared[key]) > 0
		if max := p.opts.MaxConnsPerHost; !firstInFlight && (max <= 0 || p.total[key] < max) {
			p.total[key]++
			p.muxDialing[key]++
			p.mu.Unlock()
			return p.dialMux(ctx, key, dial)
		}
		if !useIdle && !firstInFlight {
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

// dialMux dials for GetMux; the caller counted the connection in total and
// muxDialing.
func (p *Pool) dialMux(ctx context.Context, key Key, dial MuxDial) (*Entry, bool, error) {
	c, cc, err := dial(ctx)
	p.mu.Lock()
	p.muxDialing[key]--
	if p.muxDialing[key] <= 0 {
		delete(p.muxDialing, key)
	}
	if err != nil {
		p.decLocked(key)
		// Callers waiting for this first dial try their own.
		p.wakeAllLocked(key)
		p.mu.Unlock()
		return nil, false, err
	}
	e := &Entry{Conn: c, key: key, H2: cc}
	if cc == nil {
		p.learned[key] = protoHTTP1
		p.wakeAllLocked(key)
		p.mu.Unlock()
		return e, false, nil
	}
	p.learned[key] = protoHTTP2
	// Our own stream first, so the waiters woken below cannot take them all.
	e.streams = 1
	peer := c.H2Peer()
	if peer != nil {
		e.maxStreams = -1
	}
	p.shared[key] = append(p.shared[key], e)
	p.wakeAllLocked(key)
	p.mu.Unlock()
	cc.SetStateHook(func(*http.ClientConn) { p.muxStateChanged(e) })
	if peer != nil {
		peer.OnSettle(func() { p.muxSettled(e, peer) })
	}
	return e, false, nil
}

// muxSettled records the server's limit on concurrent streams once its
// SETTINGS frame arrived (or ferry gave up on reading it), and lets the
// callers that waited for it look again.
func (p *Pool) muxSettled(e *Entry, peer *conn.H2Peer) {
	max, limited, _ := peer.MaxStreams()
	p.mu.Lock()
	e.maxStreams = 0
	if limited {
		e.maxStreams = int(min(max, 1<<20))
	}
	p.wakeAllLocked(e.key)
	p.mu.Unlock()
}

// pickMuxLocked lends the first HTTP/2 connection of key with a free
// stream. dead is one found closed, or drained after a GOAWAY, for the
// caller to discard. pending reports a connection that has a stream but
// not yet the server's SETTINGS: the engine would count 100 streams free
// there until then, so it lends none, and the caller waits for the frame
// rather than dial.
func (p *Pool) pickMuxLocked(key Key) (e, dead *Entry, pending bool) {
	for _, e := range p.shared[key] {
		if e.maxStreams < 0 && e.streams > 0 {
			pending = true
			continue
		}
		if e.maxStreams > 0 && e.streams >= e.maxStreams {
			continue
		}
		// Each of the engine's counts takes its lock, which its read loop
		// also holds per frame: when the room alone covers the streams lent
		// (the usual case), the count in flight is not needed.
		avail := e.H2.Available()
		lend := avail > e.streams
		if !lend {
			// A closed connection reports neither streams nor room.
			inFlight := e.H2.InFlight()
			if inFlight == 0 && avail == 0 && e.streams == 0 {
				p.forgetMuxLocked(e)
				return nil, e, pending
			}
			// avail is 0 at the limit (the engine may still count streams
			// whose bodies ended: the state hook wakes a waiter when it
			// retires them) and after a GOAWAY.
			lend = avail > 0 && e.streams < inFlight+avail
		}
		if lend {
			e.streams++
			if e.idle {
				p.unlinkFromListLocked(e)
			}
			return e, nil, false
		}
	}
	return nil, nil, pending
}

// MuxDone ends a stream that GetMux lent on an HTTP/2 entry: a waiter may
// take its place; a connection with no stream left goes idle, under the idle
// limits, or is closed when it takes no more (GOAWAY, single use).
func (p *Pool) MuxDone(e *Entry) {
	var closeList []*Entry
	p.mu.Lock()
	e.streams--
	if e.streams == 0 && e.maxStreams < 0 {
		// The first stream ended before the server's SETTINGS arrived: the
		// engine's count decides from now on.
		e.maxStreams = 0
		defer e.Conn.H2Peer().GiveUp()
	}
	if e.gone {
		p.mu.Unlock()
		return
	}
	if e.streams == 0 {
		if e.H2.Err() != nil || e.H2.Available() == 0 && e.H2.InFlight() <= 1 {
			// Closed, drained after a GOAWAY, or single use (the engine may
			// still count the stream that just ended).
			p.forgetMuxLocked(e)
			closeList = append(closeList, e)
		} else {
			closeList = p.muxIdleLocked(e, closeList)
		}
	}
	p.wakeLocked(e.key)
	p.mu.Unlock()
	for _, x := range closeList {
		p.Discard(x)
	}
}

// muxStateChanged follows what the engine reports of an HTTP/2 connection:
// a stream retired or a slot freed (a waiter looks again), or the
// connection failed or closed (GOAWAY with an error, the peer closing, a
// ping timeout): it leaves the pool at once and every waiter looks again.
func (p *Pool) muxStateChanged(e *Entry) {
	if e.H2.Err() == nil {
		p.mu.Lock()
		if len(p.waiters[e.key]) > 0 {
			p.wakeLocked(e.key)
		}
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	p.forgetMuxLocked(e)
	p.wakeAllLocked(e.key)
	p.mu.Unlock()
}

// muxIdleLocked puts an HTTP/2 connection with no stream in flight on the
// idle list, under the idle limits; it returns what must be closed.
func (p *Pool) muxIdleLocked(e *Entry, closeList []*Entry) []*Entry {
	if p.opts.DisableKeepAlives || p.idleOfKeyLocked(e.key) >= p.opts.maxIdlePerHost() {
		p.forgetMuxLocked(e)
		return append(closeList, e)
	}
	if max := p.opts.MaxIdleConns; max > 0 && p.idleCount >= max {
		evict := p.oldest
		p.unlinkLocked(evict)
		if p.closableLocked(evict) {
			closeList = append(closeList, evict)
		}
	}
	e.idleSince = time.Now()
	p.linkLocked(e)
	if t := p.opts.IdleConnTimeout; t > 0 && p.sweep == nil {
		p.sweep = time.AfterFunc(t, p.sweepExpired)
	}
	return closeList
}

// idleOfKeyLocked counts the idle connections of key, HTTP/1.1 and HTTP/2.
func (p *Pool) idleOfKeyLocked(key Key) int {
	n := len(p.idle[key])
	for _, e := range p.shared[key] {
		if e.idle {
			n++
		}
	}
	return n
}

// forgetMuxLocked removes an HTTP/2 entry from the pool, once.
func (p *Pool) forgetMuxLocked(e *Entry) {
	if e.gone {
		return
	}
	e.gone = true
	list := p.shared[e.key]
	for i, x := range list {
		if x == e {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(p.shared, e.key)
	} else {
		p.shared[e.key] = list
	}
	p.unlinkFromListLocked(e)
	p.decLocked(e.key)
}

// discardMux closes an HTTP/2 connection and forgets it. Streams still in
// flight on it fail.
func (p *Pool) discardMux(e *Entry) {
	p.mu.Lock()
	p.forgetMuxLocked(e)
	p.mu.Unlock()
	if e.H2.Err() == nil {
		// A connection that already failed keeps the errors it gave its
		// streams; closing it again would replace them with "force closed".
		e.H2.Close()
	}
}

// closableLocked reports whether an entry taken off the idle list may be
// closed: an HTTP/2 one may have been lent since it went idle. An HTTP/2
// one that may is taken out of the pool at once, under the lock, so no
// caller can borrow it between this decision and its Close.
func (p *Pool) closableLocked(e *Entry) bool {
	if e.H2 == nil {
		return true
	}
	if e.streams > 0 {
		return false
	}
	p.forgetMuxLocked(e)
	return true
}

// wakeAllLocked lets every waiting Get for key try again.
func (p *Pool) wakeAllLocked(key Key) {
	p.gen++
	for _, ch := range p.waiters[key] {
		close(ch)
	}
	delete(p.waiters, key)
}
