package pac

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/dop251/goja"
)

// install defines the PAC helper functions in rt's global object. They are
// written from the Netscape/Microsoft PAC definitions and Chromium's
// documented behaviour; none of them evaluates JavaScript text.
func (rt *runtime) install() error {
	fns := map[string]func(goja.FunctionCall) goja.Value{
		"isPlainHostName":     rt.isPlainHostName,
		"dnsDomainIs":         rt.dnsDomainIs,
		"localHostOrDomainIs": rt.localHostOrDomainIs,
		"isResolvable":        rt.isResolvable,
		"isInNet":             rt.isInNet,
		"dnsResolve":          rt.dnsResolve,
		"myIpAddress":         rt.myIPAddress,
		"dnsDomainLevels":     rt.dnsDomainLevels,
		"shExpMatch":          rt.shExpMatch,
		"weekdayRange":        rt.weekdayRange,
		"dateRange":           rt.dateRange,
		"timeRange":           rt.timeRange,
		"isResolvableEx":      rt.isResolvableEx,
		"isInNetEx":           rt.isInNetEx,
		"dnsResolveEx":        rt.dnsResolveEx,
		"myIpAddressEx":       rt.myIPAddressEx,
		"sortIpAddressList":   rt.sortIPAddressList,
		"getClientVersion":    func(goja.FunctionCall) goja.Value { return rt.vm.ToValue("1.0") },
		"alert":               rt.alert,
	}
	for name, fn := range fns {
		if err := rt.vm.Set(name, fn); err != nil {
			return err
		}
	}
	return nil
}

// str returns argument i as a Go string when it is a JavaScript string.
func str(call goja.FunctionCall, i int) (string, bool) {
	v := call.Argument(i)
	if _, ok := v.Export().(string); !ok {
		return "", false
	}
	return v.String(), true
}

// text returns argument i converted to a string as JavaScript would
// (String(x)); Netscape's helpers were JavaScript and coerced their input.
func text(call goja.FunctionCall, i int) string {
	v := call.Argument(i)
	if goja.IsUndefined(v) {
		return "undefined"
	}
	if goja.IsNull(v) {
		return "null"
	}
	return v.String()
}

func (rt *runtime) bool(b bool) goja.Value { return rt.vm.ToValue(b) }

// isPlainHostName: no dot, and not an IPv6 literal. Chromium throws a
// TypeError for a missing or non-string argument.
func (rt *runtime) isPlainHostName(call goja.FunctionCall) goja.Value {
	h, ok := str(call, 0)
	if !ok {
		panic(rt.vm.NewTypeError("Requires 1 string parameter"))
	}
	if strings.Contains(h, ".") {
		return rt.bool(false)
	}
	if strings.Contains(h, ":") {
		if _, err := netip.ParseAddr(h); err == nil {
			return rt.bool(false)
		}
	}
	return rt.bool(true)
}

func (rt *runtime) dnsDomainIs(call goja.FunctionCall) goja.Value {
	host, domain := strings.ToLower(text(call, 0)), strings.ToLower(text(call, 1))
	return rt.bool(len(host) >= len(domain) && strings.HasSuffix(host, domain))
}

// localHostOrDomainIs: the host is hostdom, or an unqualified name that is
// hostdom's first label.
func (rt *runtime) localHostOrDomainIs(call goja.FunctionCall) goja.Value {
	host, hostdom := strings.ToLower(text(call, 0)), strings.ToLower(text(call, 1))
	return rt.bool(host == hostdom || strings.HasPrefix(hostdom, host+"."))
}

func (rt *runtime) dnsDomainLevels(call goja.FunctionCall) goja.Value {
	return rt.vm.ToValue(strings.Count(text(call, 0), "."))
}

func (rt *runtime) shExpMatch(call goja.FunctionCall) goja.Value {
	return rt.bool(globMatch(text(call, 0), text(call, 1)))
}

// globMatch matches s against a shell expression in which '*' is any run of
// characters and '?' exactly one; every other character stands for itself.
// It runs in O(len(s)*len(pattern)) at worst: one backtrack point (the last
// star) is enough for this pattern language, so no input explodes.
func globMatch(s, pattern string) bool {
	str, pat := []rune(s), []rune(pattern)
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(str) {
		switch {
		case pi < len(pat) && (pat[pi] == '?' || pat[pi] == str[si]):
			si++
			pi++
		case pi < len(pat) && pat[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi] == '*' {
		pi++
	}
	return pi == len(pat)
}

// --- DNS ---------------------------------------------------------------

// lookup resolves host with the script's resolver, bounded by DNSTimeout
// and by the evaluation's own deadline. An IP literal is its own answer.
func (rt *runtime) lookup(host string) []netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	ctx, cancel := context.WithTimeout(rt.ctx, rt.s.opts.dnsTimeout())
	defer cancel()
	addrs, err := rt.s.opts.resolver().LookupIPAddr(ctx, host)
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

func firstV4(addrs []netip.Addr) (netip.Addr, bool) {
	for _, a := range addrs {
		if a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// dnsResolve returns the host's first IPv4 address, or null. A non-string
// argument is null without a lookup (Chromium).
func (rt *runtime) dnsResolve(call goja.FunctionCall) goja.Value {
	h, ok := str(call, 0)
	if !ok {
		return goja.Null()
	}
	a, ok := firstV4(rt.lookup(h))
	if !ok {
		return goja.Null()
	}
	return rt.vm.ToValue(a.String())
}

func (rt *runtime) isResolvable(call goja.FunctionCall) goja.Value {
	h, ok := str(call, 0)
	if !ok {
		return rt.bool(false)
	}
	_, found := firstV4(rt.lookup(h))
	return rt.bool(found)
}

// dnsResolveEx returns every address of the host, IPv6 and IPv4, separated
// by ';', or "" when it does not resolve.
func (rt *runtime) dnsResolveEx(call goja.FunctionCall) goja.Value {
	h, ok := str(call, 0)
	if !ok {
		return goja.Null()
	}
	return rt.vm.ToValue(joinAddrs(rt.lookup(h)))
}

func (rt *runtime) isResolvableEx(call goja.FunctionCall) goja.Value {
	h, ok := str(call, 0)
	if !ok {
		return rt.bool(false)
	}
	return rt.bool(len(rt.lookup(h)) > 0)
}

func joinAddrs(addrs []netip.Addr) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = a.String()
	}
	return strings.Join(parts, ";")
}

// isInNet: whether host (an IPv4 literal, or a name resolved to its first
// IPv4 address) is in pattern/mask, both dotted IPv4.
func (rt *runtime) isInNet(call goja.FunctionCall) goja.Value {
	host, pattern, mask := text(call, 0), text(call, 1), text(call, 2)
	p, err1 := netip.ParseAddr(pattern)
	m, err2 := netip.ParseAddr(mask)
	if err1 != nil || err2 != nil || !p.Is4() || !m.Is4() {
		return rt.bool(false)
	}
	ip, ok := firstV4(rt.lookup(host))
	if !ok {
		return rt.bool(false)
	}
	a, pb, mb := ip.As4(), p.As4(), m.As4()
	for i := range 4 {
		if a[i]&mb[i] != pb[i]&mb[i] {
			return rt.bool(false)
		}
	}
	return rt.bool(true)
}

// isInNetEx: whether the IP literal ip is inside prefix ("addr/bits"), IPv4
// or IPv6, both of the same family. Null when an argument is missing.
func (rt *runtime) isInNetEx(call goja.FunctionCall) goja.Value {
	ipText, ok1 := str(call, 0)
	prefixText, ok2 := str(call, 1)
	if !ok1 || !ok2 {
		return goja.Null()
	}
	ip, err := netip.ParseAddr(ipText)
	if err != nil || ip.Zone() != "" {
		return rt.bool(false)
	}
	prefix, err := netip.ParsePrefix(prefixText)
	if err != nil {
		return rt.bool(false)
	}
	if ip.Is4() != prefix.Addr().Is4() {
		return rt.bool(false)
	}
	return rt.bool(prefix.Masked().Contains(ip))
}

// sortIpAddressList sorts a ';'-separated list of IP literals, IPv6 before
// IPv4, each family in ascending order, keeping equal ones in their order
// and every address as written. False for an empty list or a bad address.
func (rt *runtime) sortIPAddressList(call goja.FunctionCall) goja.Value {
	list, ok := str(call, 0)
	if !ok {
		return goja.Null()
	}
	type entry struct {
		text string
		addr netip.Addr
	}
	var entries []entry
	for _, part := range strings.Split(list, ";") {
		part = strings.Trim(part, " \t")
		if part == "" {
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil || a.Zone() != "" {
			return rt.bool(false)
		}
		entries = append(entries, entry{part, a})
	}
	if len(entries) == 0 {
		return rt.bool(false)
	}
	slices.SortStableFunc(entries, func(x, y entry) int {
		if x.addr.Is4() != y.addr.Is4() {
			if y.addr.Is4() {
				return -1
			}
			return 1
		}
		return x.addr.Compare(y.addr)
	})
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = e.text
	}
	return rt.vm.ToValue(strings.Join(parts, ";"))
}

// myIpAddress returns this machine's IPv4 address, "127.0.0.1" when it has
// none it can tell.
func (rt *runtime) myIPAddress(goja.FunctionCall) goja.Value {
	if a, ok := firstV4(rt.localAddrs()); ok {
		return rt.vm.ToValue(a.String())
	}
	return rt.vm.ToValue("127.0.0.1")
}

// myIpAddressEx returns every address of this machine, ';'-separated, "" if none.
func (rt *runtime) myIPAddressEx(goja.FunctionCall) goja.Value {
	return rt.vm.ToValue(joinAddrs(rt.localAddrs()))
}

func (rt *runtime) localAddrs() []netip.Addr {
	ctx, cancel := context.WithTimeout(rt.ctx, rt.s.opts.dnsTimeout())
	defer cancel()
	addrs, err := rt.s.opts.myAddrs()(ctx)
	if err != nil {
		return nil
	}
	return addrs
}

// defaultMyAddrs finds the address this machine would use to reach the
// internet, by "connecting" a UDP socket (which sends nothing) as Chromium
// does, for IPv4 and IPv6. Loopback and link-local answers are left out.
func defaultMyAddrs(ctx context.Context) ([]netip.Addr, error) {
	var out []netip.Addr
	var d net.Dialer
	for _, probe := range []string{"8.8.8.8:53", "[2001:4860:4860::8888]:53"} {
		c, err := d.DialContext(ctx, "udp", probe)
		if err != nil {
			continue
		}
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
			if a, ok := netip.AddrFromSlice(ua.IP); ok {
				a = a.Unmap()
				if !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsUnspecified() {
					out = append(out, a)
				}
			}
		}
		c.Close()
	}
	return out, nil
}

// alert sends the script's message to Options.Logger (Chromium shows it in
// its net log). Converting the argument may throw, as in a browser.
func (rt *runtime) alert(call goja.FunctionCall) goja.Value {
	msg := text(call, 0)
	if l := rt.s.opts.Logger; l != nil {
		l.Debug("pac: alert", "message", msg)
	}
	return goja.Undefined()
}
