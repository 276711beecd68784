package main

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/p2p"
)

type inviteOptions struct {
	admissionKey string
	valid        time.Duration
}

// maxInviteValidity bounds --valid: an invite is for a node about to join,
// not a standing permission.
const maxInviteValidity = 30 * 24 * time.Hour

func inviteCommand(fs *flagSet) runner {
	o := &inviteOptions{}
	fs.String(&o.admissionKey, "admission-key", "", "FILE", "the network's admission key (admission.key in the first node's data dir, or in a dds testnet directory)")
	fs.Duration(&o.valid, "valid", 24*time.Hour, "how long the invite may be used to join")
	return o.run
}

// run prints an invite for the peer id, which its node passes to `dds
// daemon --invite` (or DDS_INVITE) with --bootstrap.
func (o *inviteOptions) run(_ context.Context, a *app, args []string) error {
	if err := wantArgs(args, "PEER_ID"); err != nil {
		return err
	}
	id, err := peer.Decode(args[0])
	if err != nil {
		return usagef("PEER_ID %q is not a peer id: %v", args[0], err)
	}
	if o.admissionKey == "" {
		return usagef("--admission-key is required")
	}
	if o.valid <= 0 || o.valid > maxInviteValidity {
		return usagef("--valid must be between 1s and %v", maxInviteValidity)
	}
	key, err := p2p.LoadKeyFile(o.admissionKey)
	if err != nil {
		return fmt.Errorf("--admission-key: %w", err)
	}
	raw, err := p2p.RawKey(key)
	if err != nil {
		return fmt.Errorf("--admission-key: %w", err)
	}
	fmt.Fprintln(a.stdout, billing.SignInvite(raw, id.String(), time.Now().Add(o.valid)).String())
	return nil
}
