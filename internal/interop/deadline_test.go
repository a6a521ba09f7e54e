package interop_test

import (
	"testing"
	"time"

	"github.com/ferryhttp/ferry/internal/interop"
	"github.com/ferryhttp/ferry/internal/origintest"
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
	origintest.DeadlineSpread(t, tr, e.secureURL+"/spread", workers, perWorker, 5*time.Second)
}
