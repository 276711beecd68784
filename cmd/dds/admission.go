package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/p2p"
)

// The commands of the admission key's holder: invite a node, remove a
// member. Both sign with the key; removing also tells a node (--node).

const admissionKeyHelp = "the network's admission key (admission.key in the first node's data dir, or in a dds testnet directory)"

type inviteOptions struct {
	admissionKey string
	valid        time.Duration
}

// maxInviteValidity bounds --valid: an invite is for a node about to join,
// not a standing permission.
const maxInviteValidity = 30 * 24 * time.Hour

func inviteCommand(fs *flagSet) runner {
	o := &inviteOptions{}
	fs.String(&o.admissionKey, "admission-key", "", "FILE", admissionKeyHelp)
	fs.Duration(&o.valid, "valid", 24*time.Hour, "how long the invite may be used to join")
	return o.run
}

// run prints an invite for the peer id, which its node passes to `dds
// daemon --invite` (or DDS_INVITE) with --bootstrap.
func (o *inviteOptions) run(_ context.Context, a *app, args []string) error {
	if err := wantArgs(args, "PEER_ID"); err != nil {
		return err
	}
	id, key, err := admissionArgs(args[0], o.admissionKey)
	if err != nil {
		return err
	}
	if o.valid <= 0 || o.valid > maxInviteValidity {
		return usagef("--valid must be between 1s and %v", maxInviteValidity)
	}
	fmt.Fprintln(a.stdout, billing.SignInvite(key, id.String(), time.Now().Add(o.valid)).String())
	return nil
}

type memberOptions struct {
	node         *nodeOptions
	admissionKey string
}

func memberCommand(fs *flagSet) runner {
	o := &memberOptions{node: nodeFlags(fs)}
	fs.String(&o.admissionKey, "admission-key", "", "FILE", admissionKeyHelp)
	return o.run
}

// run removes a member: it signs the removal with the admission key and
// posts it to the node, whose ledger checks it on every replica.
func (o *memberOptions) run(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 && args[0] != "remove" {
		return usagef("unknown member command %q (there is: remove)", args[0])
	}
	if err := wantArgs(args, "remove", "PEER_ID"); err != nil {
		return err
	}
	id, key, err := admissionArgs(args[1], o.admissionKey)
	if err != nil {
		return err
	}
	c, err := o.node.client(a)
	if err != nil {
		return err
	}
	r := billing.SignRemoval(key, id.String(), time.Now())
	if err := c.RemoveMember(ctx, r.PeerID, api.Removal{At: r.At, Signature: r.Signature}); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	if o.node.json {
		return printJSON(a.stdout, map[string]string{"removed": id.String()})
	}
	fmt.Fprintf(a.stdout, "removed %s: it leaves the registry and the ledger's group, and loses its connections\n", id)
	return nil
}

// admissionArgs checks a PEER_ID argument and loads --admission-key.
func admissionArgs(peerID, keyFile string) (peer.ID, ed25519.PrivateKey, error) {
	id, err := peer.Decode(peerID)
	if err != nil {
		return "", nil, usagef("PEER_ID %q is not a peer id: %v", peerID, err)
	}
	if keyFile == "" {
		return "", nil, usagef("--admission-key is required")
	}
	key, err := p2p.LoadKeyFile(keyFile)
	if err != nil {
		return "", nil, fmt.Errorf("--admission-key: %w", err)
	}
	raw, err := p2p.RawKey(key)
	if err != nil {
		return "", nil, fmt.Errorf("--admission-key: %w", err)
	}
	return id, raw, nil
}
