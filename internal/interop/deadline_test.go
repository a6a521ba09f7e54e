package interop_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ferryhttp/ferry/internal/interop"
)

// TestSquidDeadlineSpread: 50 goroutines tunnel through a real squid to an
// https origin with deadlines spread over the connect stages (0 to 4 ms, then
// up to 40 ms). Under -race nothing may race or crash (issue 13: a deadline
// callback once used a conn Connect had just cleared), and every failure is
// the context's deadline.
func TestSquidDeadlineSpread(t *testing.T) {
	interop.Require(t)
	e := setup(t)
	workers, perWorker := 50, 6
	if testing.Short() {
		workers, perWorker = 20, 3
	}
	tr := e.transport(e.squid.HTTP, false)
	tr.DisableKeepAlives = true // every request goes through every stage
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	var unexpected []string
	var ok, timedOut int
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				idx := g*perWorker + i
				d := time.Duration(idx%41) * 100 * time.Microsecond
				if idx%2 == 1 {
					d = time.Duration(idx%41) * time.Millisecond
				}
				if (g+i)%9 == 0 {
					d = 5 * time.Second
				}
				ctx, cancel := context.WithTimeout(context.Background(), d)
				req, _ := http.NewRequestWithContext(ctx, "GET", e.secureURL+"/spread", nil)
				resp, err := tr.RoundTrip(req)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, context.DeadlineExceeded):
					timedOut++
				default:
					unexpected = append(unexpected, fmt.Sprintf("%v: %v (%T)", d, err, err))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d ok, %d timed out", ok, timedOut)
	if len(unexpected) > 0 {
		t.Errorf("%d failures that are not the context's deadline, first: %s", len(unexpected), unexpected[0])
	}
	if ok == 0 || timedOut == 0 {
		t.Errorf("%d ok, %d timed out: the spread missed the stages", ok, timedOut)
	}
}
