package proxyauth

import (
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Challenge is one challenge of a Proxy-Authenticate header (RFC 9110
// section 11.6.1): a scheme with either a token68 (NTLM and Negotiate carry
// their tokens so) or auth-params (realm, nonce, ...).
type Challenge struct {
	// Scheme is the auth-scheme as the proxy wrote it ("Digest", "NTLM").
	Scheme string
	// Token68 is the challenge's token68, if it has one ("" otherwise).
	Token68 string
	// Params are the auth-params, names lower-cased, quoted values unquoted.
	Params map[string]string
}

// Is reports whether c's scheme is name, ignoring case as RFC 9110 asks.
func (c Challenge) Is(name string) bool { return strings.EqualFold(c.Scheme, name) }

// Challenges parses every challenge of the Proxy-Authenticate fields of h,
// in order. A field may hold several challenges separated by commas (squid
// writes one field per scheme; others join them). Malformed parts are
// skipped, never fatal: a proxy's odd header must not stop a scheme that
// parses.
func Challenges(h http.Header) []Challenge {
	var out []Challenge
	for _, v := range h.Values("Proxy-Authenticate") {
		out = parseChallenges(out, v)
	}
	return out
}

// parseChallenges appends the challenges of one field value to out.
func parseChallenges(out []Challenge, s string) []Challenge {
	p := &lexer{s: s}
	for {
		p.skipSpaceAndCommas()
		if p.done() {
			return out
		}
		scheme := p.token()
		if scheme == "" {
			p.skipItem()
			continue
		}
		c := Challenge{Scheme: scheme}
		p.skipSpace()
		if t, ok := p.token68(); ok {
			c.Token68 = t
			out = append(out, c)
			continue
		}
		c.Params = p.params()
		out = append(out, c)
	}
}

// lexer walks one header value. All positions stay within s; every loop
// consumes at least one byte or stops.
type lexer struct {
	s string
	i int
}

func (p *lexer) done() bool { return p.i >= len(p.s) }

func (p *lexer) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *lexer) skipSpaceAndCommas() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

// skipItem skips to the next comma outside a quoted string.
func (p *lexer) skipItem() {
	for p.i < len(p.s) && p.s[p.i] != ',' {
		if p.s[p.i] == '"' {
			p.quoted()
			continue
		}
		p.i++
	}
}

func (p *lexer) token() string {
	start := p.i
	for p.i < len(p.s) && httpguts.IsTokenRune(rune(p.s[p.i])) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68 reads a token68 when one stands here, that is when the run of
// token68 characters (and trailing '=') ends the challenge: followed by the
// end or a comma. Otherwise it moves nothing.
func (p *lexer) token68() (string, bool) {
	start := p.i
	j := p.i
	for j < len(p.s) && isToken68Char(p.s[j]) {
		j++
	}
	if j == start {
		return "", false
	}
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	k := j
	for k < len(p.s) && (p.s[k] == ' ' || p.s[k] == '\t') {
		k++
	}
	if k < len(p.s) && p.s[k] != ',' {
		return "", false
	}
	// "realm=" alone is not a param (a param needs a value): token68.
	p.i = k
	return p.s[start:j], true
}

// params reads auth-params up to the start of the next challenge.
func (p *lexer) params() map[string]string {
	var m map[string]string
	for {
		p.skipSpace()
		save := p.i
		name := p.token()
		if name == "" {
			if p.done() {
				return m
			}
			if p.s[p.i] == ',' {
				p.i++
				if !p.nextIsParam() {
					return m
				}
				continue
			}
			p.skipItem()
			continue
		}
		p.skipSpace()
		if p.done() || p.s[p.i] != '=' {
			// A bare token: the next challenge's scheme.
			p.i = save
			return m
		}
		p.i++
		p.skipSpace()
		var val string
		if !p.done() && p.s[p.i] == '"' {
			val = p.quoted()
		} else {
			val = p.token()
		}
		if m == nil {
			m = make(map[string]string)
		}
		m[strings.ToLower(name)] = val
		p.skipSpace()
		if p.done() {
			return m
		}
		if p.s[p.i] != ',' {
			p.skipItem()
		}
		if !p.done() {
			p.i++ // the comma
		}
		if !p.nextIsParam() {
			return m
		}
	}
}

// nextIsParam looks past spaces and commas: does "token =" follow?
func (p *lexer) nextIsParam() bool {
	save := p.i
	defer func() { p.i = save }()
	p.skipSpaceAndCommas()
	if p.token() == "" {
		return false
	}
	p.skipSpace()
	return !p.done() && p.s[p.i] == '='
}

// quoted reads a quoted-string starting at the opening quote and returns
// its value with quoted-pairs resolved. An unterminated string runs to the end.
func (p *lexer) quoted() string {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		ch := p.s[p.i]
		switch {
		case ch == '"':
			p.i++
			return b.String()
		case ch == '\\' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		default:
			b.WriteByte(ch)
			p.i++
		}
	}
	return b.String()
}

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}

// quote renders s as a quoted-string.
func quote(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
