//go:build !unix

package main

import "time"

// cpuTime is not measured here: getrusage is a Unix call.
func cpuTime() (time.Duration, bool) { return 0, false }

// rssBytes is not measured here: /proc/self/status is Linux's.
func rssBytes() (int64, bool) { return 0, false }

// raiseFileLimit cannot tell the limit here; it assumes need fits.
func raiseFileLimit(need uint64) (uint64, error) { return need, nil }
