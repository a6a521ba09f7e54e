package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MS-NLMP section 4.2.4: NTLMv2 with User "User", domain "Domain",
// password "Password", server challenge 0123456789abcdef, client challenge
// aa..aa, time 0, and the AV pairs of its CHALLENGE.
func TestNTLMv2Vectors(t *testing.T) {
	ntowf := ntowfv2("User", "Domain", "Password")
	if got, want := ntowf, unhex(t, "0c 86 8a 40 3b fd 7a 93 a3 00 1e f2 2e f0 2e 3f"); !bytes.Equal(got, want) {
		t.Errorf("NTOWFv2 = %x, want %x (4.2.4.1.1)", got, want)
	}
	avpairs := unhex(t, "02 00 0c 00 44 00 6f 00 6d 00 61 00 69 00 6e 00 01 00 0c 00 53 00 65 00 72 00 76 00 65 00 72 00 00 00 00 00")
	var temp []byte
	temp = append(temp, 1, 1, 0, 0, 0, 0, 0, 0)           // RespType, HiRespType, Reserved1, Reserved2
	temp = append(temp, make([]byte, 8)...)               // Time
	temp = append(temp, bytes.Repeat([]byte{0xaa}, 8)...) // ClientChallenge
	temp = append(temp, 0, 0, 0, 0)                       // Reserved3
	temp = append(temp, avpairs...)
	temp = append(temp, 0, 0, 0, 0)
	server := [8]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	if got, want := ntProofStr(ntowf, server, temp), unhex(t, "68 cd 0a b8 51 e5 1c 96 aa bc 92 7b eb ef 6a 1c"); !bytes.Equal(got, want) {
		t.Errorf("NTProofStr = %x, want %x (4.2.4.2.2)", got, want)
	}
}

// authenticate builds an AUTHENTICATE_MESSAGE as a client would, with the
// NTLMv2 response for password.
func authenticate(user, domain, password string, server [8]byte, info []byte) []byte {
	temp := append([]byte{1, 1, 0, 0, 0, 0, 0, 0}, make([]byte, 8)...)
	temp = append(temp, bytes.Repeat([]byte{0x55}, 8)...)
	temp = append(temp, 0, 0, 0, 0)
	temp = append(temp, info...)
	temp = append(temp, 0, 0, 0, 0)
	nt := append(ntProofStr(ntowfv2(user, domain, password), server, temp), temp...)
	d, u := utf16le(domain), utf16le(user)
	const head = 64
	var b []byte
	b = append(b, signature...)
	b = append(b, 3, 0, 0, 0)
	b = appendField(b, 0, head)                       // LmChallengeResponse
	b = appendField(b, len(nt), head)                 // NtChallengeResponse
	b = appendField(b, len(d), head+len(nt))          // DomainName
	b = appendField(b, len(u), head+len(nt)+len(d))   // UserName
	b = appendField(b, 0, head+len(nt)+len(d)+len(u)) // Workstation
	b = appendField(b, 0, head+len(nt)+len(d)+len(u)) // EncryptedRandomSessionKey
	b = append(b, 1, 0, 0, 0)                         // flags: Unicode
	b = append(b, nt...)
	b = append(b, d...)
	return append(b, u...)
}

func TestHelperProtocol(t *testing.T) {
	s := &server{users: map[string]string{"ferry": "interop"}}
	for _, c := range []struct {
		user, password, want string
	}{
		{"ferry", "interop", "AF DOM\\ferry"},
		{"ferry", "wrong", "NA wrong password"},
		{"nobody", "interop", "NA unknown user"},
	} {
		tt := s.handle("YR")
		if !strings.HasPrefix(tt, "TT ") {
			t.Fatalf("YR: %q", tt)
		}
		msg, _ := base64.StdEncoding.DecodeString(tt[3:])
		if string(msg[:8]) != signature || msg[8] != 2 {
			t.Fatalf("not a CHALLENGE: %x", msg)
		}
		var server [8]byte
		copy(server[:], msg[24:32])
		info, err := field(msg, 40)
		if err != nil {
			t.Fatal(err)
		}
		if name, err := field(msg, 12); err != nil || fromUTF16le(name) != "FERRY" {
			t.Errorf("TargetName %q, %v", name, err)
		}
		got := s.handle("KK " + base64.StdEncoding.EncodeToString(authenticate(c.user, "DOM", c.password, server, info)))
		if got != c.want {
			t.Errorf("%s/%s: %q, want %q", c.user, c.password, got, c.want)
		}
	}
	if got := s.handle("KK AAAA"); got != "NA no challenge was sent" {
		t.Errorf("KK without YR: %q", got)
	}
}
