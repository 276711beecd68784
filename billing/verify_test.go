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
