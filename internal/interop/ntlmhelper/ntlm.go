package main

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"strings"
	"time"
	"unicode/utf16"
)

// Negotiate flags (MS-NLMP 2.2.2.5) the CHALLENGE sets: Unicode, NTLM,
// extended session security, target info, version, 128/56-bit. Neither
// KEY_EXCH nor LM_KEY: the client need not encrypt a session key.
const challengeFlags = 0x00000001 | // NEGOTIATE_UNICODE
	0x00000004 | // REQUEST_TARGET
	0x00000200 | // NEGOTIATE_NTLM
	0x00008000 | // NEGOTIATE_ALWAYS_SIGN
	0x00010000 | // TARGET_TYPE_DOMAIN
	0x00080000 | // NEGOTIATE_EXTENDED_SESSIONSECURITY
	0x00800000 | // NEGOTIATE_TARGET_INFO
	0x02000000 | // NEGOTIATE_VERSION
	0x20000000 | // NEGOTIATE_128
	0x80000000 // NEGOTIATE_56

const signature = "NTLMSSP\x00"

func utf16le(s string) []byte {
	var b []byte
	for _, r := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, r)
	}
	return b
}

func fromUTF16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// fileTimeNow is the current time as a Windows FILETIME (100 ns since 1601).
func fileTimeNow() uint64 {
	return uint64(time.Now().UnixNano()/100) + 116444736000000000
}

// avPairs renders the CHALLENGE's TargetInfo (MS-NLMP 2.2.2.1).
func avPairs(domain, computer string, timestamp uint64) []byte {
	var b []byte
	add := func(id uint16, v []byte) {
		b = binary.LittleEndian.AppendUint16(b, id)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	add(2, utf16le(domain))   // MsvAvNbDomainName
	add(1, utf16le(computer)) // MsvAvNbComputerName
	add(4, utf16le(strings.ToLower(domain)+".test"))
	add(3, utf16le(strings.ToLower(computer)+"."+strings.ToLower(domain)+".test"))
	add(7, binary.LittleEndian.AppendUint64(nil, timestamp)) // MsvAvTimestamp
	add(0, nil)                                              // MsvAvEOL
	return b
}

// challengeMessage builds a CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2): header of
// 56 bytes with a Version, then TargetName and TargetInfo.
func challengeMessage(serverChallenge [8]byte, domain, computer string, timestamp uint64) []byte {
	target := utf16le(domain)
	info := avPairs(domain, computer, timestamp)
	const headerLen = 56
	var b []byte
	b = append(b, signature...)
	b = binary.LittleEndian.AppendUint32(b, 2)
	b = appendField(b, len(target), headerLen)
	b = binary.LittleEndian.AppendUint32(b, challengeFlags)
	b = append(b, serverChallenge[:]...)
	b = append(b, make([]byte, 8)...) // Reserved
	b = appendField(b, len(info), headerLen+len(target))
	b = append(b, 10, 0, 0x61, 0x4a, 0, 0, 0, 15) // Version: 10.0.19041, NTLMSSP revision 15
	b = append(b, target...)
	return append(b, info...)
}

func appendField(b []byte, n, offset int) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	return binary.LittleEndian.AppendUint32(b, uint32(offset))
}

// field reads the payload a (len, maxlen, offset) field at pos points to.
func field(msg []byte, pos int) ([]byte, error) {
	if pos+8 > len(msg) {
		return nil, errors.New("message too short")
	}
	n := int(binary.LittleEndian.Uint16(msg[pos:]))
	off := int(binary.LittleEndian.Uint32(msg[pos+4:]))
	if off < 0 || n < 0 || off+n > len(msg) {
		return nil, errors.New("field beyond the message")
	}
	return msg[off : off+n], nil
}

// ntowfv2 is NTOWFv2 (MS-NLMP 3.3.2): HMAC-MD5 keyed with MD4 of the
// password, over the upper-cased user and the domain, in UTF-16LE.
func ntowfv2(user, domain, password string) []byte {
	key := md4(utf16le(password))
	m := hmac.New(md5.New, key[:])
	m.Write(utf16le(strings.ToUpper(user) + domain))
	return m.Sum(nil)
}

// ntProofStr is HMAC-MD5(NTOWFv2, ServerChallenge || temp) (MS-NLMP 3.3.2),
// the first 16 bytes of an NTLMv2 response; temp is the rest of it.
func ntProofStr(ntowf []byte, serverChallenge [8]byte, temp []byte) []byte {
	m := hmac.New(md5.New, ntowf)
	m.Write(serverChallenge[:])
	m.Write(temp)
	return m.Sum(nil)
}

// verify checks an AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3) against the
// challenge it answers and the user's password, and returns the user.
func verify(msg []byte, serverChallenge [8]byte, password func(user string) (string, bool)) (string, error) {
	if len(msg) < 64 || string(msg[:8]) != signature || binary.LittleEndian.Uint32(msg[8:]) != 3 {
		return "", errors.New("not an AUTHENTICATE message")
	}
	nt, err := field(msg, 20)
	if err != nil {
		return "", err
	}
	domainB, err := field(msg, 28)
	if err != nil {
		return "", err
	}
	userB, err := field(msg, 36)
	if err != nil {
		return "", err
	}
	flags := binary.LittleEndian.Uint32(msg[60:])
	user, domain := string(userB), string(domainB)
	if flags&1 != 0 {
		user, domain = fromUTF16le(userB), fromUTF16le(domainB)
	}
	if len(nt) <= 16 {
		return "", errors.New("not an NTLMv2 response")
	}
	pw, ok := password(user)
	if !ok {
		return "", errors.New("unknown user")
	}
	want := ntProofStr(ntowfv2(user, domain, pw), serverChallenge, nt[16:])
	if !hmac.Equal(want, nt[:16]) {
		return "", errors.New("wrong password")
	}
	if domain != "" {
		return domain + "\\" + user, nil
	}
	return user, nil
}
