package ferry

import "time"

// SetClock makes t's bad-proxy table read the time from now (tests only).
func SetClock(t *Transport, now func() time.Time) { t.bad.now = now }
