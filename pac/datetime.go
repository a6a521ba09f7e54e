package pac

import (
	"math"
	"strings"

	"github.com/dop251/goja"
)

// now is the current time as the script sees it: the fields of a new Date
// made with the script's own global Date constructor, in local time or in
// GMT. Going through Date (whose clock is Options.Now) keeps the helpers
// consistent with the script, which may replace Date, as Chromium's own
// tests do.
type now struct {
	year, month, day, weekday, hour, min, sec int
}

func (rt *runtime) now(gmt bool) (now, bool) {
	ctor, ok := goja.AssertConstructor(rt.vm.Get("Date"))
	if !ok {
		return now{}, false
	}
	d, err := ctor(nil)
	if err != nil {
		return now{}, false
	}
	get := func(local, utc string) int {
		name := local
		if gmt {
			name = utc
		}
		fn, ok := goja.AssertFunction(d.Get(name))
		if !ok {
			return -1
		}
		v, err := fn(d)
		if err != nil {
			return -1
		}
		return int(v.ToInteger())
	}
	return now{
		year:    get("getFullYear", "getUTCFullYear"),
		month:   get("getMonth", "getUTCMonth"),
		day:     get("getDate", "getUTCDate"),
		weekday: get("getDay", "getUTCDay"),
		hour:    get("getHours", "getUTCHours"),
		min:     get("getMinutes", "getUTCMinutes"),
		sec:     get("getSeconds", "getUTCSeconds"),
	}, true
}

// args returns the call's arguments without a trailing "GMT", and whether
// it was there.
func args(call goja.FunctionCall) ([]goja.Value, bool) {
	a := call.Arguments
	if n := len(a); n > 0 {
		if s, ok := a[n-1].Export().(string); ok && strings.EqualFold(s, "GMT") {
			return a[:n-1], true
		}
	}
	return a, false
}

var weekdays = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
var months = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

func indexOf(list []string, v goja.Value) int {
	s, ok := v.Export().(string)
	if !ok {
		return -1
	}
	for i, x := range list {
		if strings.EqualFold(x, s) {
			return i
		}
	}
	return -1
}

// inRange reports lo <= v <= hi, or, when lo > hi, the range that wraps
// around (FRI to MON, 22h to 6h).
func inRange(v, lo, hi int) bool {
	if lo <= hi {
		return lo <= v && v <= hi
	}
	return v >= lo || v <= hi
}

// weekdayRange(wd1 [, wd2] [, "GMT"]).
func (rt *runtime) weekdayRange(call goja.FunctionCall) goja.Value {
	a, gmt := args(call)
	if len(a) < 1 || len(a) > 2 {
		return rt.bool(false)
	}
	lo := indexOf(weekdays, a[0])
	hi := lo
	if len(a) == 2 {
		hi = indexOf(weekdays, a[1])
	}
	n, ok := rt.now(gmt)
	if lo < 0 || hi < 0 || !ok {
		return rt.bool(false)
	}
	return rt.bool(inRange(n.weekday, lo, hi))
}

// timeRange(hour), (h1, h2), (h1, m1, h2, m2), (h1, m1, s1, h2, m2, s2),
// each with an optional "GMT"; the ends are inclusive.
func (rt *runtime) timeRange(call goja.FunctionCall) goja.Value {
	a, gmt := args(call)
	v := make([]int, len(a))
	for i, x := range a {
		f := x.ToFloat()
		if math.IsNaN(f) || f < 0 || f > 60 {
			return rt.bool(false)
		}
		v[i] = int(f)
	}
	n, ok := rt.now(gmt)
	if !ok {
		return rt.bool(false)
	}
	switch len(v) {
	case 1:
		return rt.bool(n.hour == v[0])
	case 2:
		return rt.bool(inRange(n.hour, v[0], v[1]))
	case 4:
		return rt.bool(inRange(n.hour*60+n.min, v[0]*60+v[1], v[2]*60+v[3]))
	case 6:
		return rt.bool(inRange(n.hour*3600+n.min*60+n.sec, v[0]*3600+v[1]*60+v[2], v[3]*3600+v[4]*60+v[5]))
	}
	return rt.bool(false)
}

// dateField is one argument of dateRange: a day of the month (1-31), a
// month name, or a year (a number above 31).
type dateField struct {
	kind  byte // 'd', 'm', 'y'
	value int
}

func parseDateField(v goja.Value) (dateField, bool) {
	if m := indexOf(months, v); m >= 0 {
		return dateField{'m', m}, true
	}
	if _, isStr := v.Export().(string); isStr {
		return dateField{}, false
	}
	f := v.ToFloat()
	switch {
	case math.IsNaN(f) || f < 1 || f > 1e6 || f != float64(int(f)):
		return dateField{}, false
	case f <= 31:
		return dateField{'d', int(f)}, true
	default:
		return dateField{'y', int(f)}, true
	}
}

// dateRange takes a day, a month or a year, a range of two of the same
// kind, one date given as day and month, month and year, or day, month and
// year, or a range of two such dates; "GMT" may follow. Ranges include
// their ends and wrap around the year when they have no year (NOV to FEB).
func (rt *runtime) dateRange(call goja.FunctionCall) goja.Value {
	a, gmt := args(call)
	if len(a) == 0 || len(a) > 6 {
		return rt.bool(false)
	}
	fields := make([]dateField, len(a))
	for i, v := range a {
		f, ok := parseDateField(v)
		if !ok {
			return rt.bool(false)
		}
		fields[i] = f
	}
	n, ok := rt.now(gmt)
	if !ok {
		return rt.bool(false)
	}
	// A single date: every field distinct in kind, in the order day,
	// month, year. Two fields of one kind, or two halves of the same
	// shape, make a range.
	var lo, hi []dateField
	switch {
	case isDate(fields):
		lo, hi = fields, fields
	case len(fields)%2 == 0 && isDate(fields[:len(fields)/2]) && sameShape(fields[:len(fields)/2], fields[len(fields)/2:]):
		lo, hi = fields[:len(fields)/2], fields[len(fields)/2:]
	default:
		return rt.bool(false)
	}
	key := func(fs []dateField) (int, bool) {
		var d, m, y = -1, -1, -1
		for _, f := range fs {
			switch f.kind {
			case 'd':
				d = f.value
			case 'm':
				m = f.value
			case 'y':
				y = f.value
			}
		}
		k := 0
		if y >= 0 {
			k = y
		}
		if m >= 0 {
			k = k*12 + m
		}
		if d >= 0 {
			k = k*32 + d
		}
		return k, y >= 0
	}
	nowFields := make([]dateField, len(lo))
	for i, f := range lo {
		switch f.kind {
		case 'd':
			nowFields[i] = dateField{'d', n.day}
		case 'm':
			nowFields[i] = dateField{'m', n.month}
		case 'y':
			nowFields[i] = dateField{'y', n.year}
		}
	}
	l, withYear := key(lo)
	h, _ := key(hi)
	v, _ := key(nowFields)
	if withYear && l > h {
		return rt.bool(false)
	}
	return rt.bool(inRange(v, l, h))
}

// isDate reports fields whose kinds are distinct and in the order day,
// month, year (a subset of it).
func isDate(fs []dateField) bool {
	order := "dmy"
	last := -1
	for _, f := range fs {
		i := strings.IndexByte(order, f.kind)
		if i <= last {
			return false
		}
		last = i
	}
	return true
}

func sameShape(a, b []dateField) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].kind != b[i].kind {
			return false
		}
	}
	return true
}
