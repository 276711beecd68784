package billing

import (
	"crypto/ed25519"
	"math/rand/v2"
	"testing"
)

// verifySig must accept exactly what crypto/ed25519 accepts: every node of
// a network checks the same signatures, and a valid one is valid anywhere.
func TestVerifySigMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seed := make([]byte, ed25519.SeedSize)
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
	}
	if verifySig(make([]byte, 31), nil, make([]byte, 64)) {
		t.Fatal("a short key verified")
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

// checkAll answers each check right, whichever goroutine took it.
func TestCheckAll(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range 6 {
		for round := range 50 {
			var checks [][3][]byte
			var want []bool
			for i := range n {
				msg := []byte{byte(n), byte(round), byte(i), 0xaa}
				sig := ed25519.Sign(priv, msg)
				ok := (i+round)%3 != 0
				if !ok {
					sig[5] ^= 0x40
				}
				checks = append(checks, [3][]byte{pub, msg, sig})
				want = append(want, ok)
			}
			got := new(checkedSet).checkAll(checks)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%d checks, round %d: check %d = %v, want %v", n, round, i, got[i], want[i])
				}
			}
		}
	}
}
