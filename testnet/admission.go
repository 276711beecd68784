package testnet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/node"
	"github.com/ddsnet/dds/p2p"
)

// inviteTTL is how long the invites a test network writes for its own
// nodes may be used.
const inviteTTL = time.Hour

// AdmissionKeyPath is where a network kept in dir has its admission key:
// the first node makes it there, and the network signs its other nodes'
// invites with it.
func AdmissionKeyPath(dir string) string { return filepath.Join(dir, p2p.AdmissionKeyFile) }

// Admit makes the peer id a member of the network (with an invite the
// network signs for it, proposed through its first running node), without
// a place in the ledger's group: a host of a test's that takes part in the
// protocols.
func (nw *Network) Admit(ctx context.Context, id peer.ID) error {
	admission, err := loadAdmission(nw.opts.Dir)
	if err != nil {
		return err
	}
	invite := billing.SignInvite(admission, id.String(), time.Now().Add(inviteTTL)).String()
	var running []*node.Node
	for _, nd := range nw.Nodes {
		if nd.Node != nil {
			running = append(running, nd.Node)
		}
	}
	if len(running) == 0 {
		return errors.New("testnet: no node running")
	}
	if err := running[0].Admit(ctx, id, invite); err != nil {
		return err
	}
	// Every replica applies the admission.
	for _, n := range running {
		for !n.Admits(id) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("testnet: admit %s: %w", id, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

// Invite returns an invite to the network kept in dir for the node whose
// data dir is dataDir, making that node's identity key now if it has none
// yet (so that the invite names the peer id it will start with).
func Invite(dir, dataDir string) (string, error) {
	admission, err := loadAdmission(dir)
	if err != nil {
		return "", err
	}
	ident, err := p2p.LoadOrCreateKey(dataDir)
	if err != nil {
		return "", fmt.Errorf("testnet: identity of %s: %w", dataDir, err)
	}
	id, err := peer.IDFromPrivateKey(ident)
	if err != nil {
		return "", fmt.Errorf("testnet: identity of %s: %w", dataDir, err)
	}
	return billing.SignInvite(admission, id.String(), time.Now().Add(inviteTTL)).String(), nil
}

// loadAdmission reads the admission key of the network kept in dir.
func loadAdmission(dir string) (ed25519.PrivateKey, error) {
	key, err := p2p.LoadKeyFile(AdmissionKeyPath(dir))
	if err != nil {
		return nil, fmt.Errorf("testnet: admission key: %w", err)
	}
	admission, err := p2p.RawKey(key)
	if err != nil {
		return nil, fmt.Errorf("testnet: admission key: %w", err)
	}
	return admission, nil
}
