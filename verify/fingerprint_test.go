package verify_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/verify"
)

func TestParseFingerprint(t *testing.T) {
	const lower = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	upper := strings.ToUpper(lower)
	colons := func(s string) string {
		var parts []string
		for i := 0; i < len(s); i += 2 {
			parts = append(parts, s[i:i+2])
		}
		return strings.Join(parts, ":")
	}
	type result struct {
		Hex string // of the bytes returned
		Bad bool   // errors.Is(err, ErrBadFingerprint)
	}
	ok := result{Hex: lower}
	bad := result{Bad: true}
	cases := []struct {
		name, in string
		want     result
	}{
		{"lower", lower, ok},
		{"upper", upper, ok},
		{"mixed-case", lower[:32] + upper[32:], ok},
		{"colons", colons(lower), ok},
		{"colons-upper", colons(upper), ok},
		{"prefix", "sha256/" + lower, ok},
		{"prefix-upper", "SHA256/" + upper, ok},
		{"prefix-colons", "sha256/" + colons(upper), ok},
		{"surrounding-space", "  " + lower + "\n", ok},

		{"empty", "", bad},
		{"prefix-only", "sha256/", bad},
		{"space-only", "   ", bad},
		{"too-short", lower[:62], bad},
		{"too-long", lower + "00", bad},
		{"odd-length", lower[:63], bad},
		{"sha1-length", lower[:40], bad},
		{"not-hex", strings.Repeat("zz", 32), bad},
		{"other-algorithm", "md5/" + lower, bad},
		{"double-prefix", "sha256/sha256/" + lower, bad},
		{"colons-misplaced", lower[:3] + ":" + lower[3:], bad},
		{"colon-trailing", colons(lower) + ":", bad},
		{"colon-leading", ":" + colons(lower), bad},
		{"colons-doubled", strings.ReplaceAll(colons(lower), ":", "::"), bad},
		{"inner-space", lower[:32] + " " + lower[32:], bad},
		{"base64", "sha256/ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=", bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := verify.ParseFingerprint(tc.in)
			got := result{Hex: hex.EncodeToString(b), Bad: errors.Is(err, verify.ErrBadFingerprint)}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseFingerprint(%q) = %x, %v (-want +got):\n%s", tc.in, b, err, diff)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "verify: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestFingerprintOf(t *testing.T) {
	p := newPKI(t)
	sum := sha256.Sum256(p.good.Certificate[0])
	want := hex.EncodeToString(sum[:])
	got := verify.FingerprintOf(p.good.Leaf)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FingerprintOf (-want +got):\n%s", diff)
	}
	b, err := verify.ParseFingerprint(got)
	if err != nil || !cmp.Equal(sum[:], b) {
		t.Errorf("ParseFingerprint(FingerprintOf(c)) = %x, %v; want %x", b, err, sum)
	}
}

// FuzzParseFingerprint: ParseFingerprint never panics, returns 32 bytes or
// ErrBadFingerprint, and what it accepts is the hex of its result once the
// prefix, colons, case and surrounding space are set aside.
func FuzzParseFingerprint(f *testing.F) {
	const h = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	f.Add(h)
	f.Add("SHA256/" + strings.ToUpper(h))
	f.Add("sha256/00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF")
	f.Add("")
	f.Add("sha256/")
	f.Add(h[:63] + ":")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := verify.ParseFingerprint(s)
		if err != nil {
			if !errors.Is(err, verify.ErrBadFingerprint) || b != nil {
				t.Fatalf("ParseFingerprint(%q) = %x, %v; want nil and ErrBadFingerprint", s, b, err)
			}
			return
		}
		if len(b) != sha256.Size {
			t.Fatalf("ParseFingerprint(%q) = %d bytes, want %d", s, len(b), sha256.Size)
		}
		norm := strings.ToLower(strings.TrimSpace(s))
		norm = strings.ReplaceAll(strings.TrimPrefix(norm, "sha256/"), ":", "")
		if norm != hex.EncodeToString(b) {
			t.Fatalf("ParseFingerprint(%q) = %x, which is not what the input spells (%s)", s, b, norm)
		}
		again, err := verify.ParseFingerprint(hex.EncodeToString(b))
		if err != nil || !cmp.Equal(b, again) {
			t.Fatalf("round trip of %x: %x, %v", b, again, err)
		}
	})
}
