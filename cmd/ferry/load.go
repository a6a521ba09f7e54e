package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// histogram counts latencies in buckets 2% wide, from 1 ns to hours, so a
// run of any length is summed in fixed memory. Shards keep concurrent
// workers off each other's cache lines.
type histogram struct {
	shards [][histBuckets]atomic.Uint64
}

const (
	histPerE    = 50 // buckets per factor e: each is e^(1/50) ≈ 1.02 wide
	histBuckets = 35 * histPerE
)

func newHistogram(shards int) *histogram {
	return &histogram{shards: make([][histBuckets]atomic.Uint64, min(max(shards, 1), 64))}
}

func (h *histogram) add(worker int, d time.Duration) {
	i := 0
	if d > 1 {
		i = min(int(math.Log(float64(d))*histPerE), histBuckets-1)
	}
	h.shards[worker%len(h.shards)][i].Add(1)
}

// quantile returns the q-quantile (0 < q ≤ 1), the middle of its bucket.
func (h *histogram) quantile(q float64) time.Duration {
	var counts [histBuckets]uint64
	var total uint64
	for s := range h.shards {
		for i := range h.shards[s] {
			c := h.shards[s][i].Load()
			counts[i] += c
			total += c
		}
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= want {
			return time.Duration(math.Exp((float64(i) + 0.5) / histPerE))
		}
	}
	return 0
}

// benchTransport is one of the transports compared, with its dial counter.
type benchTransport struct {
	name      string
	rt        http.RoundTripper
	dc        *dialCounter
	closeIdle func()
}

// roundResult is one transport's share of one round.
type roundResult struct {
	requests, errors, non2xx int64
	elapsed, cpu             time.Duration
	cpuOK                    bool
	mallocs                  uint64
	firstErr                 error
	protos                   []string // the distinct resp.Proto values, in order of appearance
}

// load sends requests on c workers until n are done (n > 0) or until d has
// passed, and measures wall time, process CPU and allocations around them.
// A request in flight when d ends is let finish: it is not cut short.
func load(ctx context.Context, bt *benchTransport, newReq func(context.Context) (*http.Request, error), n int64, d time.Duration, c int, h *histogram) roundResult {
	var remaining atomic.Int64
	remaining.Store(n)
	var res roundResult
	var reqs, errs, non2xx atomic.Int64
	var errOnce sync.Once
	var protoMu sync.Mutex
	runtime.GC() // start each measurement from the same, collected, heap
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, ok0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var protos []string // what this worker's responses came over
			defer func() {
				protoMu.Lock()
				for _, p := range protos {
					if !slices.Contains(res.protos, p) {
						res.protos = append(res.protos, p)
					}
				}
				protoMu.Unlock()
			}()
			for ctx.Err() == nil {
				if n > 0 {
					if remaining.Add(-1) < 0 {
						return
					}
				} else if time.Since(start) >= d {
					return
				}
				t0 := time.Now()
				status, proto, err := roundTrip(ctx, bt.rt, newReq)
				el := time.Since(t0)
				reqs.Add(1)
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { res.firstErr = err })
					continue
				}
				if status < 200 || status > 299 {
					non2xx.Add(1)
				}
				if !slices.Contains(protos, proto) {
					protos = append(protos, proto)
				}
				if h != nil {
					h.add(w, el)
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	cpu1, ok1 := cpuTime()
	runtime.ReadMemStats(&ms1)
	res.requests, res.errors, res.non2xx = reqs.Load(), errs.Load(), non2xx.Load()
	res.cpu, res.cpuOK = cpu1-cpu0, ok0 && ok1
	res.mallocs = ms1.Mallocs - ms0.Mallocs
	return res
}

// roundTrip sends one request and reads its body to the end, as a program
// that uses the answer does; the latency measured includes the body.
func roundTrip(ctx context.Context, rt http.RoundTripper, newReq func(context.Context) (*http.Request, error)) (status int, proto string, err error) {
	req, err := newReq(ctx)
	if err != nil {
		return 0, "", err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	return resp.StatusCode, resp.Proto, err
}

// idleResult is what N idle keep-alive connections cost one transport.
type idleResult struct {
	Conns           int64   `json:"conns_dialled"`
	Idle            int64   `json:"conns_idle"`
	HeapPerConn     float64 `json:"heap_bytes_per_conn"`
	StackPerConn    float64 `json:"stack_bytes_per_conn"`
	RSSPerConn      float64 `json:"rss_bytes_per_conn"` // -1 when unknown
	Goroutines      int     `json:"goroutines"`
	GoroutinesAdded int     `json:"goroutines_added"`
}

// openIdle opens n keep-alive connections with bt and measures the heap,
// goroutines and RSS they hold once idle in the pool. A connection is busy
// until its response body is read, so every request keeps its body unread
// until all n have their response: n requests in flight at once need n
// distinct connections, whatever the server's speed. c bounds how many
// requests are being sent (dial, TLS, headers) at the same moment.
func openIdle(ctx context.Context, bt *benchTransport, newReq func(context.Context) (*http.Request, error), n, c int) (idleResult, error) {
	var res idleResult
	settle()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	g0 := runtime.NumGoroutine()
	rss0, rssOK0 := rssBytes()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	release := make(chan struct{})
	sem := make(chan struct{}, c)
	var ready, done sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			sem <- struct{}{}
			req, err := newReq(ctx)
			var resp *http.Response
			if err == nil {
				resp, err = bt.rt.RoundTrip(req)
			}
			<-sem
			ready.Done()
			if err != nil {
				errOnce.Do(func() { firstErr = err; cancel() })
				return
			}
			<-release
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	ready.Wait()
	close(release)
	done.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	settle()
	runtime.ReadMemStats(&ms1)
	res.Conns = bt.dc.dialled.Load()
	res.Idle = res.Conns - bt.dc.closed.Load()
	res.Goroutines = runtime.NumGoroutine()
	res.GoroutinesAdded = res.Goroutines - g0
	res.HeapPerConn = float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / float64(n)
	res.StackPerConn = float64(int64(ms1.StackInuse)-int64(ms0.StackInuse)) / float64(n)
	res.RSSPerConn = -1
	if rss1, ok := rssBytes(); ok && rssOK0 {
		res.RSSPerConn = float64(rss1-rss0) / float64(n)
	}
	if res.Idle != int64(n) {
		return res, fmt.Errorf("%s holds %d idle connections of the %d asked for (%d dialled): the server may close idle connections", bt.name, res.Idle, n, res.Conns)
	}
	return res, nil
}

// settle collects garbage and returns freed memory to the system, so that
// heap and RSS readings hold only what is live.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// waitGoroutines waits (5 s at most) for the goroutines of closed
// connections to end, so the next measurement starts from a quiet process.
func waitGoroutines(atMost int) {
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > atMost && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
