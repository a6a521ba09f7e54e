package conn

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/http2"
)

// settingsFrame is a server preface's first frame, written by x/net's framer.
func settingsFrame(t testing.TB, s ...http2.Setting) []byte {
	var b bytes.Buffer
	if err := http2.NewFramer(&b, nil).WriteSettings(s...); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type peerSeen struct {
	Max              uint32
	Limited, Settled bool
}

// TestSettingsReader: the server's MAX_CONCURRENT_STREAMS is read from its
// first frame however the reads split it; anything but a SETTINGS frame
// first, or one ferry cannot read, settles with no limit of ferry's.
func TestSettingsReader(t *testing.T) {
	ping := func() []byte {
		var b bytes.Buffer
		http2.NewFramer(&b, nil).WritePing(false, [8]byte{})
		return b.Bytes()
	}
	ack := func() []byte {
		var b bytes.Buffer
		http2.NewFramer(&b, nil).WriteSettingsAck()
		return b.Bytes()
	}
	tests := []struct {
		name  string
		bytes []byte
		want  peerSeen
	}{
		{"limit", settingsFrame(t, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 8}), peerSeen{8, true, true}},
		{"limit among others", settingsFrame(t,
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20},
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 250},
			http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15}), peerSeen{250, true, true}},
		{"no limit given", settingsFrame(t, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}), peerSeen{0, false, true}},
		{"empty", settingsFrame(t), peerSeen{0, false, true}},
		{"zero streams", settingsFrame(t, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 0}), peerSeen{0, false, true}},
		{"frames after it are not read", append(settingsFrame(t, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 3}),
			settingsFrame(t, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 9})...), peerSeen{3, true, true}},
		{"a PING first", ping(), peerSeen{0, false, true}},
		{"an ACK first", ack(), peerSeen{0, false, true}},
		{"length not a multiple of 6", []byte{0, 0, 5, 4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5}, peerSeen{0, false, true}},
		{"over 16 KiB", []byte{0, 0x40, 0x02, 4, 0, 0, 0, 0, 0}, peerSeen{0, false, true}},
		{"not all there", settingsFrame(t, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 8})[:12], peerSeen{0, false, false}},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 2, 7, 9, 10, 1 << 20} {
			peer := &H2Peer{}
			r := settingsReader{peer: peer}
			settled := 0
			peer.OnSettle(func() { settled++ })
			for b := tt.bytes; len(b) > 0; {
				n := min(chunk, len(b))
				r.observe(b[:n])
				b = b[n:]
			}
			var got peerSeen
			got.Max, got.Limited, got.Settled = peer.MaxStreams()
			if !got.Limited {
				got.Max = 0
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s, reads of %d bytes (-want +got):\n%s", tt.name, chunk, diff)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.want.Settled]; settled != want {
				t.Errorf("%s, reads of %d bytes: OnSettle ran %d times, want %d", tt.name, chunk, settled, want)
			}
		}
	}
}

// TestH2PeerGiveUp: giving up settles once, with no limit; OnSettle after
// that runs at once; a nil H2Peer (an HTTP/1.1 connection) is settled.
func TestH2PeerGiveUp(t *testing.T) {
	p := &H2Peer{}
	ran := 0
	p.OnSettle(func() { ran++ })
	p.GiveUp()
	p.GiveUp()
	p.settle(peerKnown, 5) // too late: the first settling stands
	p.OnSettle(func() { ran++ })
	if max, limited, settled := p.MaxStreams(); limited || !settled || max != 0 || ran != 2 {
		t.Errorf("max %d limited %v settled %v, hooks ran %d; want 0 false true 2", max, limited, settled, ran)
	}
	if _, limited, settled := (*H2Peer)(nil).MaxStreams(); limited || !settled {
		t.Errorf("nil peer: limited %v settled %v", limited, settled)
	}
}

// FuzzSettingsReader: no input panics the reader, and reads of any size
// come to what one read of all the bytes does.
func FuzzSettingsReader(f *testing.F) {
	f.Add(settingsFrame(f, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 8}), uint8(3))
	f.Add([]byte{0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		whole, split := &H2Peer{}, &H2Peer{}
		(&settingsReader{peer: whole}).observe(b)
		r := settingsReader{peer: split}
		step := int(chunk)%16 + 1
		for rest := b; len(rest) > 0; {
			n := min(step, len(rest))
			r.observe(rest[:n])
			rest = rest[n:]
		}
		var a, c peerSeen
		a.Max, a.Limited, a.Settled = whole.MaxStreams()
		c.Max, c.Limited, c.Settled = split.MaxStreams()
		if a != c {
			t.Errorf("whole %+v, in reads of %d %+v", a, step, c)
		}
	})
}

// lastBytesConn returns data and io.EOF together on its first Read, as
// crypto/tls does when the peer's close_notify follows its last record.
type lastBytesConn struct {
	net.Conn
	data []byte
}

func (c *lastBytesConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, io.EOF
}

// TestH2NetConnHoldsErrorWithBytes: the engine gets the last bytes without
// the error, and the reads count as ended (awaitReadEnd returns) only when
// it asks again, after it processed them.
func TestH2NetConnHoldsErrorWithBytes(t *testing.T) {
	h := newH2NetConn(&lastBytesConn{data: []byte("frame")}, &H2Peer{})
	buf := make([]byte, 16)
	n, err := h.Read(buf)
	if n != 5 || err != nil {
		t.Fatalf("first Read: %d, %v; want 5 bytes and no error", n, err)
	}
	select {
	case <-h.readEnd:
		t.Fatal("reads ended before the engine asked for more")
	default:
	}
	if n, err := h.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("second Read: %d, %v; want 0, io.EOF", n, err)
	}
	select {
	case <-h.readEnd:
	default:
		t.Fatal("reads not ended after the error")
	}
	if n, err := h.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("third Read: %d, %v; want io.EOF again", n, err)
	}
}
