package main

import (
	"encoding/binary"
	"math/bits"
)

// md4 is MD4 (RFC 1320), which NTLM's password hash needs and the standard
// library does not have. Written from the RFC; tested with its vectors.
func md4(msg []byte) [16]byte {
	a, b, c, d := uint32(0x67452301), uint32(0xefcdab89), uint32(0x98badcfe), uint32(0x10325476)
	// Padding: 0x80, zeros to 56 mod 64, then the bit length (little endian).
	n := len(msg)
	padded := make([]byte, 0, n+72)
	padded = append(padded, msg...)
	padded = append(padded, 0x80)
	for len(padded)%64 != 56 {
		padded = append(padded, 0)
	}
	padded = binary.LittleEndian.AppendUint64(padded, uint64(n)*8)

	f := func(x, y, z uint32) uint32 { return x&y | ^x&z }
	g := func(x, y, z uint32) uint32 { return x&y | x&z | y&z }
	h := func(x, y, z uint32) uint32 { return x ^ y ^ z }
	var x [16]uint32
	for off := 0; off < len(padded); off += 64 {
		for i := range x {
			x[i] = binary.LittleEndian.Uint32(padded[off+4*i:])
		}
		aa, bb, cc, dd := a, b, c, d
		// Round 1: [abcd k s] a = (a + F(b,c,d) + X[k]) <<< s
		for _, k := range [4]int{0, 4, 8, 12} {
			a = bits.RotateLeft32(a+f(b, c, d)+x[k], 3)
			d = bits.RotateLeft32(d+f(a, b, c)+x[k+1], 7)
			c = bits.RotateLeft32(c+f(d, a, b)+x[k+2], 11)
			b = bits.RotateLeft32(b+f(c, d, a)+x[k+3], 19)
		}
		// Round 2: a = (a + G(b,c,d) + X[k] + 5A827999) <<< s
		for _, k := range [4]int{0, 1, 2, 3} {
			a = bits.RotateLeft32(a+g(b, c, d)+x[k]+0x5a827999, 3)
			d = bits.RotateLeft32(d+g(a, b, c)+x[k+4]+0x5a827999, 5)
			c = bits.RotateLeft32(c+g(d, a, b)+x[k+8]+0x5a827999, 9)
			b = bits.RotateLeft32(b+g(c, d, a)+x[k+12]+0x5a827999, 13)
		}
		// Round 3: a = (a + H(b,c,d) + X[k] + 6ED9EBA1) <<< s
		for _, k := range [4]int{0, 2, 1, 3} {
			a = bits.RotateLeft32(a+h(b, c, d)+x[k]+0x6ed9eba1, 3)
			d = bits.RotateLeft32(d+h(a, b, c)+x[k+8]+0x6ed9eba1, 9)
			c = bits.RotateLeft32(c+h(d, a, b)+x[k+4]+0x6ed9eba1, 11)
			b = bits.RotateLeft32(b+h(c, d, a)+x[k+12]+0x6ed9eba1, 15)
		}
		a, b, c, d = a+aa, b+bb, c+cc, d+dd
	}
	var out [16]byte
	binary.LittleEndian.PutUint32(out[0:], a)
	binary.LittleEndian.PutUint32(out[4:], b)
	binary.LittleEndian.PutUint32(out[8:], c)
	binary.LittleEndian.PutUint32(out[12:], d)
	return out
}
