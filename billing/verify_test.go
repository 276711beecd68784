package billing

import (
	"crypto/ed25519"
	"crypto/sha512"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// verifySig accepts what crypto/ed25519 makes and accepts, and refuses
// what it refuses among corrupted signatures, keys and messages (the rules
// differ only for signatures made on purpose with small-order components:
// TestSmallOrderSignature); verifyBatch answers as verifySig on each.
func TestVerifySigMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seed := make([]byte, ed25519.SeedSize)
	var (
		checks [][3][]byte
		wants  []bool
	)
	for i := range 2000 {
		for j := range seed {
			seed[j] = byte(rng.Uint32())
		}
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		msg := make([]byte, rng.IntN(300))
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		sig := ed25519.Sign(priv, msg)
		p, m, s := append([]byte{}, pub...), append([]byte{}, msg...), append([]byte{}, sig...)
		switch i % 6 {
		case 1: // a bit of the signature flipped
			s[rng.IntN(len(s))] ^= 1 << rng.IntN(8)
		case 2: // the message changed
			if len(m) > 0 {
				m[rng.IntN(len(m))] ^= 1
			} else {
				m = []byte{0}
			}
		case 3: // another key
			p[rng.IntN(len(p))] ^= 1 << rng.IntN(8)
		case 4: // S made non-canonical: S + L
			s[63] |= 0xf0
		case 5: // truncated
			s = s[:rng.IntN(len(s))]
		}
		want := len(p) == ed25519.PublicKeySize && ed25519.Verify(p, m, s)
		if got := verifySig(p, m, s); got != want {
			t.Fatalf("case %d (%d): verifySig %v, ed25519.Verify %v", i, i%6, got, want)
		}
		if i%6 == 0 && !want {
			t.Fatalf("case %d: a good signature refused", i)
		}
		checks = append(checks, [3][]byte{p, m, s})
		wants = append(wants, want)
	}
	// The same checks in batches of every size up to 40.
	for at, n := 0, 1; at < len(checks); at, n = at+n, n%40+1 {
		end := min(at+n, len(checks))
		for j, got := range verifyBatch(checks[at:end]) {
			if got != wants[at+j] {
				t.Fatalf("case %d in a batch of %d: verifyBatch %v, ed25519.Verify %v", at+j, end-at, got, wants[at+j])
			}
		}
	}
	if verifySig(make([]byte, 31), nil, make([]byte, 64)) {
		t.Fatal("a short key verified")
	}
}

// smallOrderSignature makes priv's signature of msg with the order-2 point
// (0, -1) added to R: it satisfies the cofactored verification equation
// and not the cofactorless one.
func smallOrderSignature(t *testing.T, priv ed25519.PrivateKey, msg []byte) []byte {
	t.Helper()
	h := sha512.Sum512(priv.Seed())
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	a, err := scalar.New().SetBytesModOrder(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	rh := sha512.Sum512(append(append([]byte{}, h[32:]...), msg...))
	r, err := scalar.New().SetBytesModOrderWide(rh[:])
	if err != nil {
		t.Fatal(err)
	}
	R := curve.NewEdwardsPoint().MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r)
	minusOne := make([]byte, 32) // y = -1 mod 2^255-19, x = 0
	minusOne[0] = 0xec
	for i := 1; i < 31; i++ {
		minusOne[i] = 0xff
	}
	minusOne[31] = 0x7f
	ty, err := curve.NewCompressedEdwardsYFromBytes(minusOne)
	if err != nil {
		t.Fatal(err)
	}
	T, err := curve.NewEdwardsPoint().SetCompressedY(ty)
	if err != nil {
		t.Fatal(err)
	}
	R.Add(R, T)
	rEnc := curve.NewCompressedEdwardsY().SetEdwardsPoint(R)
	kh := sha512.New()
	kh.Write(rEnc[:])
	kh.Write(priv.Public().(ed25519.PublicKey))
	kh.Write(msg)
	k, err := scalar.New().SetBytesModOrderWide(kh.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	S := scalar.New().Mul(k, a)
	S.Add(S, r)
	sig := append([]byte{}, rEnc[:]...)
	sig = append(sig, make([]byte, 32)...)
	if err := S.ToBytes(sig[32:]); err != nil {
		t.Fatal(err)
	}
	return sig
}

// The ledger's rules are ZIP-215's: a signature with a small-order
// component in R passes alone and in a batch (so a node checking alone
// and one checking in a batch agree), where crypto/ed25519 refuses it.
func TestSmallOrderSignature(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("quote canonical bytes")
	odd := smallOrderSignature(t, priv, msg)
	if ed25519.Verify(pub, msg, odd) {
		t.Fatal("crypto/ed25519 accepts the small-order signature: the test does not make what it says")
	}
	if !verifySig(pub, msg, odd) {
		t.Fatal("verifySig refuses a signature valid under ZIP-215")
	}
	bad := append([]byte{}, odd...)
	bad[40] ^= 1
	checks := [][3][]byte{
		{pub, msg, ed25519.Sign(priv, msg)},
		{pub, msg, odd},
		{pub, []byte("other"), ed25519.Sign(priv, []byte("other"))},
		{pub, msg, bad},
	}
	want := []bool{true, true, true, false}
	for n := 2; n <= len(checks); n++ {
		for i, got := range verifyBatch(checks[:n]) {
			if got != want[i] {
				t.Fatalf("batch of %d: check %d = %v, want %v", n, i, got, want[i])
			}
		}
	}
}

func BenchmarkVerifySig(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 300)
	sig := ed25519.Sign(priv, msg)
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(pub, msg, sig)
		}
	})
	b.Run("voi", func(b *testing.B) {
		for b.Loop() {
			verifySig(pub, msg, sig)
		}
	})
	for _, n := range []int{3, 4, 12, 32, 48, 64} {
		checks := make([][3][]byte, n)
		for i := range checks {
			m := append([]byte{byte(i)}, msg...)
			checks[i] = [3][]byte{pub, m, ed25519.Sign(priv, m)}
		}
		b.Run(fmt.Sprintf("batch-%d", n), func(b *testing.B) {
			for b.Loop() {
				verifyBatch(checks)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1e3, "µs/sig")
		})
	}
}

// A ledger's checked-signature set only ever holds valid signatures,
// keyed by key, message and signature together: a hit for one of them
// changed is impossible, and an invalid signature is checked (and refused)
// each time. Ledgers do not share their sets.
func TestCheckedSignatures(t *testing.T) {
	l := NewLedger()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("quote canonical bytes")
	sig := ed25519.Sign(priv, msg)
	if !l.VerifySignature(pub, msg, sig) {
		t.Fatal("a valid signature refused")
	}
	if !l.checked.has(checkedKey(pub, msg, sig)) {
		t.Fatal("a valid signature checked was not remembered")
	}
	if NewLedger().checked.has(checkedKey(pub, msg, sig)) {
		t.Fatal("another ledger shares the set")
	}
	other, _, _ := ed25519.GenerateKey(nil)
	bad := append([]byte{}, sig...)
	bad[10] ^= 1
	for i := range 2 {
		for name, c := range map[string][3][]byte{
			"other key":     {other, msg, sig},
			"other message": {pub, []byte("quote canonical byteS"), sig},
			"bad signature": {pub, msg, bad},
			// The same bytes split differently between message and
			// signature must not share a key.
			"shifted": {pub, append(append([]byte{}, msg...), sig[0]), sig[1:]},
		} {
			if l.VerifySignature(c[0], c[1], c[2]) {
				t.Fatalf("round %d: %s accepted", i, name)
			}
			if l.checked.has(checkedKey(c[0], c[1], c[2])) {
				t.Fatalf("round %d: %s remembered", i, name)
			}
		}
	}

	// A node's own fresh signature, remembered, is taken as checked.
	msg2 := []byte("attested quote")
	sig2 := ed25519.Sign(priv, msg2)
	l.RememberSignature(pub, msg2, sig2)
	if !l.checked.has(checkedKey(pub, msg2, sig2)) || !l.checked.verify(pub, msg2, sig2) {
		t.Fatal("a remembered signature is not taken as checked")
	}

	// Past maxChecked the set starts over; checks still answer right.
	for i := range maxChecked + 10 {
		m := []byte{byte(i), byte(i >> 8), byte(i >> 16)}
		l.RememberSignature(pub, m, ed25519.Sign(priv, m))
	}
	if n := len(l.checked.m); n > maxChecked {
		t.Fatalf("%d signatures remembered, bound %d", n, maxChecked)
	}
	if !l.VerifySignature(pub, msg, sig) || l.VerifySignature(pub, msg, bad) {
		t.Fatal("checks wrong after the set started over")
	}
}

// checkAll answers each check right, whichever goroutine took it, in one
// part or split, with signatures the set holds among them.
func TestCheckAll(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 2, 3, 5, 11, 12, 13, 30, 2*maxBatch + 3} {
		for round := range 20 {
			var set checkedSet
			var checks [][3][]byte
			var want []bool
			for i := range n {
				msg := []byte{byte(n), byte(round), byte(i), 0xaa}
				sig := ed25519.Sign(priv, msg)
				ok := (i+round)%3 != 0
				if !ok {
					sig[5] ^= 0x40
				} else if (i+round)%4 == 0 {
					set.add(checkedKey(pub, msg, sig))
				}
				checks = append(checks, [3][]byte{pub, msg, sig})
				want = append(want, ok)
			}
			keys := make([][32]byte, len(checks))
			for i, ch := range checks {
				keys[i] = checkedKey(ch[0], ch[1], ch[2])
			}
			got := set.checkAll(checks, keys)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%d checks, round %d: check %d = %v, want %v", n, round, i, got[i], want[i])
				}
			}
		}
	}
}

// A check the ledger made before applying a batch is taken only for the
// same key, message and signature: bytes shifted between signature and
// message (which a quote whose name embeds another quote's canonical bytes
// could arrange within one batch) are checked anew, and fail.
func TestVerifiedChecksDoNotAlias(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	msg1 := []byte("head\x00tail of the message")
	sig1 := ed25519.Sign(priv, msg1)
	s := NewState()
	s.verified = map[[32]byte]bool{checkedKey(pub, msg1, sig1): true}
	if !s.verify(pub, msg1, sig1) {
		t.Fatal("a checked signature refused")
	}
	sig2 := append(append(append([]byte{}, sig1...), 0), "head"...)
	msg2 := []byte("tail of the message")
	if s.verify(pub, msg2, sig2) {
		t.Fatal("a forged signature taken for a checked one")
	}
}
