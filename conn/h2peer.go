package conn

import (
	"encoding/binary"
	"sync"
)

// H2Peer is what ferry itself read of an HTTP/2 server's first SETTINGS
// frame, as the bytes pass to the engine: the server's
// MAX_CONCURRENT_STREAMS.
//
// The engine assumes 100 streams until it has processed that frame, and
// http.ClientConn tells nobody when it has. A pool that lent streams by the
// engine's count alone would put a second request on a new connection to a
// server that allows one, where it waits behind the first. H2Peer lets the
// pool lend one stream until the limit is known, then no more than it.
type H2Peer struct {
	mu       sync.Mutex
	state    uint8  // peerPending, peerKnown or peerUnknown
	max      uint32 // with peerKnown; 0 means no limit given
	onSettle []func()
}

const (
	peerPending uint8 = iota // the frame has not arrived
	peerKnown                // read: max holds the limit (0: none given)
	peerUnknown              // it will not be read (malformed, or given up on): trust the engine
)

// MaxStreams reports the server's limit on concurrent streams. settled is
// false while its first SETTINGS frame has not arrived; limited is false
// when the server set no limit, or when ferry could not read it (the engine
// then decides alone).
func (p *H2Peer) MaxStreams() (max uint32, limited, settled bool) {
	if p == nil {
		return 0, false, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max, p.state == peerKnown && p.max > 0, p.state != peerPending
}

// OnSettle arranges for f to run once the limit is settled (at once if it
// is). f runs on the engine's read goroutine or the caller's; it must not
// block.
func (p *H2Peer) OnSettle(f func()) {
	p.mu.Lock()
	if p.state == peerPending {
		p.onSettle = append(p.onSettle, f)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	f()
}

// GiveUp stops waiting for the frame: the engine decides alone from now on.
func (p *H2Peer) GiveUp() { p.settle(peerUnknown, 0) }

func (p *H2Peer) settle(state uint8, max uint32) {
	p.mu.Lock()
	if p.state != peerPending {
		p.mu.Unlock()
		return
	}
	p.state, p.max = state, max
	fs := p.onSettle
	p.onSettle = nil
	p.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// HTTP/2 frame constants (RFC 9113, 4.1 and 6.5).
const (
	h2FrameHeaderLen       = 9
	h2FrameSettings        = 0x4
	h2SettingMaxStreams    = 0x3
	h2SettingLen           = 6
	h2MaxFirstSettingsSize = 16384 // the initial SETTINGS_MAX_FRAME_SIZE
)

// settingsReader follows the first frame the server sends, which RFC 9113
// (3.4) requires to be SETTINGS, through the bytes the engine reads. It
// looks at nothing after that frame.
type settingsReader struct {
	peer *H2Peer
	hdr  [h2FrameHeaderLen]byte
	nh   int
	body []byte
	need int // payload bytes still to come, once the header is complete
	done bool
}

// observe takes the next bytes the engine read.
func (s *settingsReader) observe(b []byte) {
	for len(b) > 0 && !s.done {
		if s.nh < h2FrameHeaderLen {
			k := copy(s.hdr[s.nh:], b)
			s.nh += k
			b = b[k:]
			if s.nh < h2FrameHeaderLen {
				return
			}
			length := int(s.hdr[0])<<16 | int(s.hdr[1])<<8 | int(s.hdr[2])
			streamID := binary.BigEndian.Uint32(s.hdr[5:]) & (1<<31 - 1)
			const ack = 0x1
			if s.hdr[3] != h2FrameSettings || s.hdr[4]&ack != 0 || streamID != 0 ||
				length%h2SettingLen != 0 || length > h2MaxFirstSettingsSize {
				// Not the preface RFC 9113 asks for: the engine will fail the
				// connection; the pool stops waiting for a limit.
				s.finish(peerUnknown, 0)
				return
			}
			s.need = length
			s.body = make([]byte, 0, length)
		}
		k := min(s.need, len(b))
		s.body = append(s.body, b[:k]...)
		s.need -= k
		b = b[k:]
		if s.need == 0 {
			var max uint32
			for e := s.body; len(e) >= h2SettingLen; e = e[h2SettingLen:] {
				if binary.BigEndian.Uint16(e) == h2SettingMaxStreams {
					max = binary.BigEndian.Uint32(e[2:])
					if max == 0 {
						// Zero streams for now (RFC 9113, 6.5.2): the engine
						// waits for more; so does the pool, on its count.
						s.finish(peerUnknown, 0)
						return
					}
				}
			}
			s.finish(peerKnown, max)
		}
	}
}

func (s *settingsReader) finish(state uint8, max uint32) {
	s.done = true
	s.body = nil
	s.peer.settle(state, max)
}
