// Command ntlmhelper is an NTLM authentication helper for squid, for ferry's
// interop tests only. It speaks squid's stateful helper protocol (a line in,
// a line out, one handshake at a time per helper child):
//
//	YR [NEGOTIATE]  →  TT <CHALLENGE>    a fresh, well-formed MS-NLMP CHALLENGE
//	KK <AUTHENTICATE> → AF <user>        the NTLMv2 response matches the password
//	                  → NA <reason>      it does not, or the message is bad
//
// Usage: ntlmhelper PASSWORD-FILE, whose lines are user:password.
//
// squid's own ntlm_fake_auth accepts any password and sends a CHALLENGE
// whose TargetName offset is garbage (go-ntlmssp rightly rejects it); this
// helper checks the password, so a test with a wrong one fails as in a
// corporate network.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ntlmhelper PASSWORD-FILE")
		os.Exit(2)
	}
	users, err := readPasswords(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ntlmhelper:", err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	var s server
	s.users = users
	for in.Scan() {
		fmt.Fprintln(out, s.handle(in.Text()))
		out.Flush()
	}
}

func readPasswords(name string) (map[string]string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	users := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if u, p, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			users[strings.ToLower(u)] = p
		}
	}
	return users, nil
}

// server is one helper child's state: the challenge of its handshake.
type server struct {
	users     map[string]string
	challenge *[8]byte
}

func (s *server) handle(line string) string {
	cmd, arg, _ := strings.Cut(line, " ")
	switch cmd {
	case "YR":
		var ch [8]byte
		rand.Read(ch[:])
		s.challenge = &ch
		return "TT " + base64.StdEncoding.EncodeToString(challengeMessage(ch, "FERRY", "SQUID", fileTimeNow()))
	case "KK":
		if s.challenge == nil {
			return "NA no challenge was sent"
		}
		ch := *s.challenge
		s.challenge = nil
		msg, err := base64.StdEncoding.DecodeString(arg)
		if err != nil {
			return "NA bad base64"
		}
		user, err := verify(msg, ch, func(user string) (string, bool) {
			p, ok := s.users[strings.ToLower(user)]
			return p, ok
		})
		if err != nil {
			return "NA " + err.Error()
		}
		return "AF " + user
	}
	return "BH unknown request"
}
