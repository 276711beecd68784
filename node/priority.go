package node

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ddsnet/dds/consensus"
	"github.com/ddsnet/dds/internal/cpuprio"
)

// startPriority begins keeping the process's CPU priority to the node's
// part in the ledger (Config.NonVoterNice), when the configuration asks for
// it and the system lets the process read its own.
func (n *Node) startPriority(ctx context.Context) {
	if n.cfg.NonVoterNice == 0 || n.cfg.Dev {
		return
	}
	base, err := cpuprio.Get()
	if err != nil {
		n.log.Info("the CPU priority stays as it is", "err", err)
		return
	}
	p := &priority{base: base, cur: base, step: n.cfg.NonVoterNice, set: cpuprio.Set, log: n.log}
	n.every(ctx, n.cfg.StatusInterval, func(context.Context) {
		members, err := n.raft.Members()
		if err != nil {
			return // closed, or no configuration yet: the next round looks again
		}
		nonVoter := false
		for _, m := range members {
			if m.ID == n.PeerID() {
				nonVoter = m.Role == consensus.NonVoter
			}
		}
		p.keep(nonVoter)
	})
}

// priority keeps the process's CPU priority to the node's role. Only the
// loop of startPriority uses it.
type priority struct {
	base, cur int // nice values: the process's at start, the one set now
	step      int // Config.NonVoterNice
	stuck     bool
	set       func(nice int) error // cpuprio.Set
	log       *slog.Logger
}

// keep lowers the priority while the node is a non-voter and raises it
// back once it votes. Raising it needs CAP_SYS_NICE: without, a promoted
// node keeps the lower priority (it still votes, only its share of a busy
// machine is smaller) and says so once.
func (p *priority) keep(nonVoter bool) {
	want := p.base
	if nonVoter {
		want = min(p.base+p.step, maxNice)
	}
	if p.stuck || want == p.cur {
		return
	}
	if err := p.set(want); err != nil {
		p.stuck = true
		if errors.Is(err, errors.ErrUnsupported) {
			p.log.Info("the CPU priority stays as it is", "err", err)
		} else {
			p.log.Warn("cannot set the CPU priority for the node's role; it stays where it is", "nice", p.cur, "want", want, "err", err)
		}
		return
	}
	p.log.Info("CPU priority set for the node's role", "nice", want, "nonvoter", nonVoter)
	p.cur = want
}

// maxNice is the lowest CPU priority there is.
const maxNice = 19
