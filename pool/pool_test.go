package pool_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/pool"
)

// listener accepts connections and holds them open; dial makes connected
// Conns to it and counts them.
func listener(t *testing.T) (dial func(context.Context) (*conn.Conn, error), dials *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	dials = new(atomic.Int32)
	return func(ctx context.Context) (*conn.Conn, error) {
		dials.Add(1)
		c := conn.New(conn.Endpoint{Scheme: "http", Host: host, Port: port}, nil, &conn.Options{})
		return c, c.Connect(ctx)
	}, dials
}

func TestMaxIdleConnsEvictsOldestAcrossKeys(t *testing.T) {
	dial, _ := listener(t)
	p := pool.New(pool.Options{MaxIdleConns: 2})
	keys := []pool.Key{{Scheme: "http", Addr: "a:1"}, {Scheme: "http", Addr: "b:1"}, {Scheme: "http", Addr: "c:1"}}
	var entries []*pool.Entry
	for _, k := range keys {
		e, _, err := p.Get(context.Background(), k, dial, true)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	for _, e := range entries {
		p.Put(e)
	}
	if diff := cmp.Diff(pool.Stats{Idle: 2, Open: 2}, p.Stats()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The oldest (key a) was evicted: getting it dials again.
	_, reused, _ := p.Get(context.Background(), keys[0], dial, true)
	_, reusedC, _ := p.Get(context.Background(), keys[2], dial, true)
	if reused || !reusedC {
		t.Errorf("reused a=%v c=%v, want false true", reused, reusedC)
	}
}

func TestWaitersHonourContextAndGetTheirTurn(t *testing.T) {
	dial, dials := listener(t)
	p := pool.New(pool.Options{MaxConnsPerHost: 1})
	k := pool.Key{Scheme: "http", Addr: "x:1"}
	e, _, err := p.Get(context.Background(), k, dial, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, _, err := p.Get(ctx, k, dial, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	got := make(chan *pool.Entry)
	go func() {
		e2, _, err := p.Get(context.Background(), k, dial, true)
		if err != nil {
			t.Error(err)
		}
		got <- e2
	}()
	for p.Stats().Waits == 0 {
		time.Sleep(time.Millisecond)
	}
	p.Put(e)
	select {
	case e2 := <-got:
		if e2 != e {
			t.Error("waiter did not get the returned connection")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("waiter never woke")
	}
	if d := dials.Load(); d != 1 {
		t.Errorf("%d dials, want 1", d)
	}
}

func TestIdleTimeoutSweeps(t *testing.T) {
	dial, _ := listener(t)
	p := pool.New(pool.Options{IdleConnTimeout: 30 * time.Millisecond})
	e, _, err := p.Get(context.Background(), pool.Key{Addr: "x:1"}, dial, true)
	if err != nil {
		t.Fatal(err)
	}
	p.Put(e)
	deadline := time.Now().Add(2 * time.Second)
	for p.Stats().Open != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := p.Stats(); s.Open != 0 || e.Conn.Connected() {
		t.Errorf("idle connection not swept: %+v", s)
	}
}
