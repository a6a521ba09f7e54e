package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// benchOptions are the flags of `ferry bench`: the shared client flags and
// the shape of the load. The run length is -n or -z: -d is the request body,
// as in get (and as in hey, whose -z is also the duration).
type benchOptions struct {
	clientOptions
	Requests    int
	Concurrency int
	Duration    time.Duration
	Transports  string
	Rounds      int
	Idle        int
	JSON        bool
}

const (
	defaultBenchRequests = 1000
	defaultBenchRounds   = 5
	maxBenchBody         = 64 << 20
	benchConnectTimeout  = 10 * time.Second
	benchReadTimeout     = 30 * time.Second
)

func (o *benchOptions) flagSet() *flagSet {
	fs := newFlagSet("bench", "URL")
	o.clientOptions.register(fs)
	fs.intVar(&o.Requests, "-n, --requests", "N", "requests per transport per round (default 1000)", 1, 10_000_000)
	fs.intVar(&o.Concurrency, "-c, --concurrency", "N", "requests in flight at once (default 1)", 1, 10_000)
	fs.durationVar(&o.Duration, "-z, --duration", "run each transport D per round instead of -n requests", time.Hour)
	fs.stringVar(&o.Transports, "--transport", "LIST", "ferry, nethttp, or both in the order of the first round (default ferry,nethttp)")
	fs.intVar(&o.Rounds, "--rounds", "N", "rounds, the transports' order alternating (default 5)", 1, 100)
	fs.intVar(&o.Idle, "--idle", "N", "open N keep-alive connections, hold them idle, report memory per connection", 1, 100_000)
	fs.boolVar(&o.JSON, "--json, -json", "results as JSON on standard output")
	return fs
}

func parseBench(args []string) (*benchOptions, string, error) {
	o := &benchOptions{}
	u, err := o.flagSet().parse(args)
	if err != nil {
		return o, u, err
	}
	switch {
	case o.Requests > 0 && o.Duration > 0:
		return o, u, fmt.Errorf("-n and -z exclude each other")
	case o.Idle > 0 && (o.Requests > 0 || o.Duration > 0):
		return o, u, fmt.Errorf("--idle excludes -n and -z")
	}
	if o.Requests == 0 && o.Duration == 0 {
		o.Requests = defaultBenchRequests
	}
	if o.Concurrency == 0 {
		o.Concurrency = 1
	}
	if o.Idle == 0 && o.Duration == 0 && o.Concurrency > o.Requests {
		return o, u, fmt.Errorf("-c %d is more than -n %d", o.Concurrency, o.Requests)
	}
	if o.Rounds == 0 {
		o.Rounds = defaultBenchRounds
	}
	if o.Transports == "" {
		o.Transports = "ferry,nethttp"
	}
	return o, u, nil
}

func runBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, rawURL, err := parseBench(args)
	if err == errHelp {
		o.flagSet().usage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "ferry bench: %v (see ferry bench -h)\n", err)
		return exitUsage
	}
	b, err := newBench(o, rawURL, stdin)
	if err != nil {
		return benchFail(stderr, err)
	}
	if o.Idle > 0 {
		return b.runIdle(ctx, stdout, stderr)
	}
	return b.runLoad(ctx, stdout, stderr)
}

func benchFail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "ferry bench: %v\n", err)
	return exitCodeOf(err)
}

// bench is one `ferry bench` run.
type bench struct {
	o      *benchOptions
	c      *client
	names  []string
	body   []byte
	method string
}

func newBench(o *benchOptions, rawURL string, stdin io.Reader) (*bench, error) {
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = benchConnectTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = benchReadTimeout
	}
	c, err := newClient(&o.clientOptions, rawURL)
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, c: c, method: c.method()}
	for _, n := range strings.Split(o.Transports, ",") {
		n = strings.TrimSpace(n)
		if n != "ferry" && n != "nethttp" {
			return nil, usageErr("--transport %q: want ferry, nethttp or both", o.Transports)
		}
		if slices.Contains(b.names, n) {
			return nil, usageErr("--transport %q names %s twice", o.Transports, n)
		}
		b.names = append(b.names, n)
	}
	// Refuse what a transport cannot do before any round starts.
	for _, n := range b.names {
		if _, err := b.transport(n, 1); err != nil {
			return nil, err
		}
	}
	if b.body, err = c.bodyBytes(stdin, maxBenchBody); err != nil {
		return nil, err
	}
	if _, err := b.newRequest(context.Background()); err != nil {
		return nil, usageErr("%v", err)
	}
	if o.Idle > 0 {
		if have, err := raiseFileLimit(uint64(o.Idle) + 256); err != nil || have < uint64(o.Idle)+64 {
			return nil, usageErr("--idle %d needs about %d open files; the limit is %d (ulimit -n)", o.Idle, o.Idle+256, have)
		}
	}
	return b, nil
}

// transport builds a fresh transport, with its own pool and dial counter.
func (b *bench) transport(name string, maxIdlePerHost int) (*benchTransport, error) {
	dc := &dialCounter{}
	if name == "ferry" {
		tr := b.c.ferryTransport(dc, maxIdlePerHost)
		return &benchTransport{name: name, rt: tr, dc: dc, closeIdle: tr.CloseIdleConnections}, nil
	}
	tr, err := b.c.netHTTPTransport(dc, maxIdlePerHost)
	if err != nil {
		return nil, err
	}
	return &benchTransport{name: name, rt: tr, dc: dc, closeIdle: tr.CloseIdleConnections}, nil
}

// newRequest builds each request as a program does, so both transports
// pay for http.NewRequest alike.
func (b *bench) newRequest(ctx context.Context) (*http.Request, error) {
	var body io.Reader
	if b.body != nil {
		body = bytes.NewReader(b.body)
	}
	req, err := http.NewRequestWithContext(ctx, b.method, b.c.target.String(), body)
	if err != nil {
		return nil, err
	}
	if len(b.c.header) > 0 {
		req.Header = b.c.header.Clone()
	}
	return req, nil
}

// transportStats sums one transport's rounds.
type transportStats struct {
	Name          string  `json:"transport"`
	Requests      int64   `json:"requests"`
	Errors        int64   `json:"errors"`
	Non2xx        int64   `json:"non_2xx"`
	ReqPerSec     float64 `json:"requests_per_second"` // median over rounds
	P50           float64 `json:"latency_p50_us"`
	P90           float64 `json:"latency_p90_us"`
	P99           float64 `json:"latency_p99_us"`
	CPUPerReq     float64 `json:"cpu_per_request_us"` // median over rounds; -1 when unknown
	AllocsPerReq  float64 `json:"allocs_per_request"` // median over rounds
	ConnsDialled  int64   `json:"conns_dialled"`
	Protocols     string  `json:"protocols"` // the responses' resp.Proto values, comma-separated
	FirstError    string  `json:"first_error,omitempty"`
	rounds        []roundResult
	hist          *histogram
	rps, cpu, mal []float64
}

// ratio is ferry's figure over net/http's: the median of the per-round
// ratios, with their minimum and maximum.
type ratio struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

type loadReport struct {
	URL         string            `json:"url"`
	Method      string            `json:"method"`
	Mode        string            `json:"mode"`
	Rounds      int               `json:"rounds"`
	Requests    int               `json:"requests_per_round,omitempty"`
	Duration    string            `json:"duration_per_round,omitempty"`
	Concurrency int               `json:"concurrency"`
	Transports  []*transportStats `json:"transports"`
	Ratios      map[string]ratio  `json:"ferry_over_nethttp,omitempty"`
	Interrupted bool              `json:"interrupted,omitempty"`
}

func (b *bench) runLoad(ctx context.Context, stdout, stderr io.Writer) int {
	o := b.o
	rep := &loadReport{URL: b.c.target.Redacted(), Method: b.method, Mode: b.c.mode(b.c.target).String(),
		Rounds: o.Rounds, Concurrency: o.Concurrency, Requests: o.Requests}
	if o.Duration > 0 {
		rep.Requests, rep.Duration = 0, o.Duration.String()
	}
	trs := map[string]*benchTransport{}
	stats := map[string]*transportStats{}
	for _, n := range b.names {
		bt, err := b.transport(n, o.Concurrency)
		if err != nil {
			return benchFail(stderr, err)
		}
		defer bt.closeIdle()
		trs[n] = bt
		st := &transportStats{Name: n, hist: newHistogram(o.Concurrency)}
		stats[n] = st
		rep.Transports = append(rep.Transports, st)
		// Warm up: open the connections and let both transports reach a
		// steady state before anything is measured.
		warm := int64(min(10*o.Concurrency, 1000))
		if o.Requests > 0 {
			warm = min(warm, int64(o.Requests))
		}
		r := load(ctx, bt, b.newRequest, max(warm, int64(o.Concurrency)), 0, o.Concurrency, nil)
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "ferry bench: interrupted")
			return exitInterrupted
		}
		if r.errors == r.requests && r.requests > 0 {
			code, msg := b.c.peerFailure(r.firstErr, b.c.target)
			fmt.Fprintf(stderr, "ferry bench: %s: every warm-up request failed: %s\n", n, msg)
			return code
		}
	}
	for r := 0; r < o.Rounds && ctx.Err() == nil; r++ {
		order := slices.Clone(b.names)
		if r%2 == 1 {
			slices.Reverse(order) // neither transport always runs first
		}
		for _, n := range order {
			res := load(ctx, trs[n], b.newRequest, int64(o.Requests), o.Duration, o.Concurrency, stats[n].hist)
			if ctx.Err() != nil {
				break // a round cut short is not a measurement
			}
			stats[n].rounds = append(stats[n].rounds, res)
		}
	}
	rep.Interrupted = ctx.Err() != nil
	for n, st := range stats {
		st.ConnsDialled = trs[n].dc.dialled.Load() // the warm-up's included: they are the connections used
	}
	b.summarize(rep, stats)
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printLoad(stdout, rep)
	}
	if rep.Interrupted {
		fmt.Fprintln(stderr, "ferry bench: interrupted")
		return exitInterrupted
	}
	for _, st := range rep.Transports {
		if st.Requests > 0 && st.Errors == st.Requests {
			r := st.rounds[0]
			code, msg := b.c.peerFailure(r.firstErr, b.c.target)
			fmt.Fprintf(stderr, "ferry bench: %s: every request failed: %s\n", st.Name, msg)
			return code
		}
	}
	return exitOK
}

func (b *bench) summarize(rep *loadReport, stats map[string]*transportStats) {
	for _, st := range rep.Transports {
		var protos []string // distinct, in order of appearance
		for _, r := range st.rounds {
			st.Requests += r.requests
			st.Errors += r.errors
			st.Non2xx += r.non2xx
			for _, p := range r.protos {
				if !slices.Contains(protos, p) {
					protos = append(protos, p)
				}
			}
			if r.firstErr != nil && st.FirstError == "" {
				_, st.FirstError = b.c.peerFailure(r.firstErr, b.c.target)
			}
			ok := max(r.requests-r.errors, 1)
			st.rps = append(st.rps, float64(r.requests)/r.elapsed.Seconds())
			cpu := -1.0
			if r.cpuOK {
				cpu = float64(r.cpu) / float64(time.Microsecond) / float64(ok)
			}
			st.cpu = append(st.cpu, cpu)
			st.mal = append(st.mal, float64(r.mallocs)/float64(ok))
		}
		st.Protocols = strings.Join(protos, ",")
		st.ReqPerSec, st.CPUPerReq, st.AllocsPerReq = median(st.rps), median(st.cpu), median(st.mal)
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
		st.P50, st.P90, st.P99 = us(st.hist.quantile(0.5)), us(st.hist.quantile(0.9)), us(st.hist.quantile(0.99))
	}
	f, n := stats["ferry"], stats["nethttp"]
	if f == nil || n == nil {
		return
	}
	rounds := min(len(f.rounds), len(n.rounds))
	if rounds == 0 {
		return
	}
	rep.Ratios = map[string]ratio{
		"requests_per_second": ratioOf(f.rps[:rounds], n.rps[:rounds]),
		"cpu_per_request":     ratioOf(f.cpu[:rounds], n.cpu[:rounds]),
		"allocs_per_request":  ratioOf(f.mal[:rounds], n.mal[:rounds]),
	}
}

func ratioOf(a, b []float64) ratio {
	var rs []float64
	for i := range a {
		if a[i] >= 0 && b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	if len(rs) == 0 {
		return ratio{-1, -1, -1}
	}
	return ratio{median(rs), slices.Min(rs), slices.Max(rs)}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printLoad(w io.Writer, rep *loadReport) {
	shape := fmt.Sprintf("%d requests", rep.Requests)
	if rep.Requests == 1 {
		shape = "1 request"
	}
	if rep.Duration != "" {
		shape = rep.Duration
	}
	fmt.Fprintf(w, "ferry bench: %s %s (mode %s), %d rounds of %s per transport, concurrency %d\n\n",
		rep.Method, rep.URL, rep.Mode, rep.Rounds, shape, rep.Concurrency)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\tprotocol\trequests/s\tp50\tp90\tp99\tCPU/request\tallocs/request\tconns\terrors\tnon-2xx\t")
	for _, st := range rep.Transports {
		cpu := "n/a"
		if st.CPUPerReq >= 0 {
			cpu = fmtUS(st.CPUPerReq)
		}
		rps := fmt.Sprintf("%.0f", st.ReqPerSec)
		if st.ReqPerSec < 100 {
			rps = fmt.Sprintf("%.3g", st.ReqPerSec) // a large body: 1.29, not 1
		}
		proto := st.Protocols
		if proto == "" {
			proto = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%d\t%d\t%d\t\n", st.Name, proto, rps,
			fmtUS(st.P50), fmtUS(st.P90), fmtUS(st.P99), cpu, st.AllocsPerReq, st.ConnsDialled, st.Errors, st.Non2xx)
	}
	tw.Flush()
	for _, st := range rep.Transports {
		if st.FirstError != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", st.Name, st.FirstError)
		}
	}
	if rep.Ratios != nil {
		fmt.Fprintf(w, "\nferry ÷ net/http, median of the per-round ratios (min–max):\n")
		for _, k := range []string{"requests_per_second", "cpu_per_request", "allocs_per_request"} {
			r := rep.Ratios[k]
			fmt.Fprintf(w, "  %-20s %.2f× (%.2f–%.2f)\n", strings.ReplaceAll(k, "_", " "), r.Median, r.Min, r.Max)
		}
	}
	fmt.Fprintln(w, "\nfigures are medians over rounds; latencies over every request (2% buckets); CPU from getrusage, the whole process")
}

func fmtUS(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2fs", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%.2fms", us/1e3)
	}
	return fmt.Sprintf("%.1fµs", us)
}

type idleReport struct {
	URL         string                `json:"url"`
	Mode        string                `json:"mode"`
	Conns       int                   `json:"conns"`
	Rounds      int                   `json:"rounds"`
	Transports  map[string]*idleStats `json:"transports"`
	Order       []string              `json:"order"`
	Ratios      map[string]ratio      `json:"ferry_over_nethttp,omitempty"`
	Interrupted bool                  `json:"interrupted,omitempty"`
	rounds      map[string][]idleResult
}

// idleStats are one transport's medians over rounds.
type idleStats struct {
	Conns        int64   `json:"conns_dialled"`
	Idle         int64   `json:"conns_idle"`
	HeapPerConn  float64 `json:"heap_bytes_per_conn"`
	StackPerConn float64 `json:"stack_bytes_per_conn"`
	RSSPerConn   float64 `json:"rss_bytes_per_conn"`
	Goroutines   float64 `json:"goroutines"`
	Added        float64 `json:"goroutines_added"`
	// the per-round figures, for the medians and the ratios
	heap, stack, rss, gor, added []float64
}

func (b *bench) runIdle(ctx context.Context, stdout, stderr io.Writer) int {
	o := b.o
	rep := &idleReport{URL: b.c.target.Redacted(), Mode: b.c.mode(b.c.target).String(), Conns: o.Idle, Rounds: o.Rounds,
		Transports: map[string]*idleStats{}, Order: b.names, rounds: map[string][]idleResult{}}
	for r := 0; r < o.Rounds && ctx.Err() == nil; r++ {
		order := slices.Clone(b.names)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, n := range order {
			bt, err := b.transport(n, o.Idle)
			if err != nil {
				return benchFail(stderr, err)
			}
			res, err := openIdle(ctx, bt, b.newRequest, o.Idle, max(o.Concurrency, 1))
			bt.closeIdle()
			waitGoroutines(64)
			if ctx.Err() != nil {
				break
			}
			if err != nil {
				code, msg := b.c.peerFailure(err, b.c.target)
				fmt.Fprintf(stderr, "ferry bench: %s: %s\n", n, msg)
				return code
			}
			rep.rounds[n] = append(rep.rounds[n], res)
		}
	}
	rep.Interrupted = ctx.Err() != nil
	for n, rs := range rep.rounds {
		st := &idleStats{}
		for _, r := range rs {
			st.Conns, st.Idle = r.Conns, r.Idle
			st.heap, st.stack, st.rss = append(st.heap, r.HeapPerConn), append(st.stack, r.StackPerConn), append(st.rss, r.RSSPerConn)
			st.gor, st.added = append(st.gor, float64(r.Goroutines)), append(st.added, float64(r.GoroutinesAdded))
		}
		st.HeapPerConn, st.StackPerConn, st.RSSPerConn = median(st.heap), median(st.stack), median(st.rss)
		st.Goroutines, st.Added = median(st.gor), median(st.added)
		rep.Transports[n] = st
	}
	if f, nh := rep.Transports["ferry"], rep.Transports["nethttp"]; f != nil && nh != nil {
		k := min(len(f.heap), len(nh.heap)) // every transport in rep.Transports has a round
		rep.Ratios = map[string]ratio{
			"heap_per_conn":  ratioOf(f.heap[:k], nh.heap[:k]),
			"stack_per_conn": ratioOf(f.stack[:k], nh.stack[:k]),
			"rss_per_conn":   ratioOf(f.rss[:k], nh.rss[:k]),
			"goroutines":     ratioOf(f.gor[:k], nh.gor[:k]),
		}
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printIdle(stdout, rep)
	}
	if rep.Interrupted {
		fmt.Fprintln(stderr, "ferry bench: interrupted")
		return exitInterrupted
	}
	return exitOK
}

func printIdle(w io.Writer, rep *idleReport) {
	fmt.Fprintf(w, "ferry bench --idle: %d keep-alive connections to %s (mode %s) held idle in the pool, %d rounds\n\n",
		rep.Conns, rep.URL, rep.Mode, rep.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\tdialled\tidle\theap/conn\tstacks/conn\tRSS/conn\tgoroutines\tadded\t")
	for _, n := range rep.Order {
		st := rep.Transports[n]
		if st == nil {
			continue
		}
		rss := "n/a"
		if st.RSSPerConn >= 0 {
			rss = fmt.Sprintf("%.0f B", st.RSSPerConn)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f B\t%.0f B\t%s\t%.0f\t%+.0f\t\n", n, st.Conns, st.Idle, st.HeapPerConn, st.StackPerConn, rss, st.Goroutines, st.Added)
	}
	tw.Flush()
	if rep.Ratios != nil {
		fmt.Fprintf(w, "\nferry ÷ net/http, median of the per-round ratios (min–max):\n")
		for _, k := range []string{"heap_per_conn", "stack_per_conn", "rss_per_conn", "goroutines"} {
			r := rep.Ratios[k]
			fmt.Fprintf(w, "  %-14s %.2f× (%.2f–%.2f)\n", strings.ReplaceAll(k, "_", " "), r.Median, r.Min, r.Max)
		}
	}
	fmt.Fprintln(w, "\nheap: live heap after GC (HeapAlloc); stacks: goroutine stacks (StackInuse); RSS: VmRSS after returning")
	fmt.Fprintln(w, "freed memory; each less its value before the connections were opened; medians over rounds")
}
