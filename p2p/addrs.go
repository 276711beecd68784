package p2p

import (
	"fmt"

	"github.com/multiformats/go-multiaddr"
)

// ListenAddrsFor expands the CLI's --p2p-addr values: a bare TCP address such
// as "/ip4/0.0.0.0/tcp/7071" gives that address plus QUIC on the same port
// ("/ip4/0.0.0.0/udp/7071/quic-v1"); other addresses are kept as given.
// Duplicates are dropped; an invalid multiaddr is an error.
func ListenAddrsFor(addrs []string) ([]string, error) {
	if len(addrs) == 0 {
		return nil, ErrNoListenAddrs
	}
	out := make([]string, 0, 2*len(addrs))
	seen := make(map[string]bool, 2*len(addrs))
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range addrs {
		m, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("listen address %q: %w", s, err)
		}
		add(m.String())
		if len(m) != 2 || m[1].Code() != multiaddr.P_TCP {
			continue
		}
		switch m[0].Code() {
		case multiaddr.P_IP4, multiaddr.P_IP6:
			add(fmt.Sprintf("%s/udp/%s/quic-v1", m[0].String(), m[1].Value()))
		}
	}
	return out, nil
}
