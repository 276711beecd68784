package consensus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Role is a member's part in the group.
type Role string

const (
	// Voter members elect the leader and commit entries.
	Voter Role = "voter"
	// NonVoter members receive every entry (so they hold the whole ledger
	// and read locally) but neither vote nor count for commitment.
	NonVoter Role = "nonvoter"
)

// Member is a server of the group's configuration: its id (the peer id,
// which is also its address) and its role.
type Member struct {
	ID   string
	Role Role
}

// Members returns the current configuration as this node knows it (the
// latest configuration in its log, committed or not), sorted by id.
func (l *Ledger) Members() ([]Member, error) {
	servers, err := l.configuration()
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(servers))
	for _, s := range servers {
		out = append(out, Member{ID: string(s.ID), Role: roleOf(s.Suffrage)})
	}
	slices.SortFunc(out, func(a, b Member) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

func roleOf(s raft.ServerSuffrage) Role {
	if s == raft.Voter {
		return Voter
	}
	return NonVoter
}

func (l *Ledger) configuration() ([]raft.Server, error) {
	if l.isClosed() {
		return nil, ErrClosed
	}
	f := l.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("read configuration: %w", l.mapError(err))
	}
	return f.Configuration().Servers, nil
}

// Join adds server id (its address is the same string: the peer id) to the
// group. It must run on the leader ([ErrNotLeader] otherwise; the node
// forwards join requests to the leader like commands). A new server becomes
// a voter while the group has fewer than MaxVoters voters, else a non-voter.
// It is idempotent: a server already in the configuration keeps its role,
// which Join returns. The change is committed when Join returns; it is
// bounded by ctx's deadline, or ApplyTimeout when ctx has none.
func (l *Ledger) Join(ctx context.Context, id string) (Role, error) {
	if id == "" {
		return "", errors.New("join: empty server id")
	}
	l.memberMu.Lock()
	defer l.memberMu.Unlock()
	if err := l.leading(ctx); err != nil {
		return "", fmt.Errorf("join %s: %w", id, err)
	}
	servers, err := l.configuration()
	if err != nil {
		return "", fmt.Errorf("join %s: %w", id, err)
	}
	voters := 0
	for _, s := range servers {
		if string(s.ID) == id {
			return roleOf(s.Suffrage), nil
		}
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	role := NonVoter
	if voters < l.cfg.maxVoters() {
		role = Voter
	}
	if err := l.change(ctx, func(timeout time.Duration) raft.IndexFuture {
		if role == Voter {
			return l.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(id), 0, timeout)
		}
		return l.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(id), 0, timeout)
	}); err != nil {
		return "", fmt.Errorf("join %s as %s: %w", id, role, err)
	}
	l.log.Info("server joined", "id", id, "role", string(role))
	return role, nil
}

// Remove takes server id out of the group. It must run on the leader
// ([ErrNotLeader] otherwise). Removing a server that is not a member does
// nothing; removing the leader itself makes it step down.
func (l *Ledger) Remove(ctx context.Context, id string) error {
	l.memberMu.Lock()
	defer l.memberMu.Unlock()
	if err := l.leading(ctx); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	if err := l.change(ctx, func(timeout time.Duration) raft.IndexFuture {
		return l.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	}); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	delete(l.goneSince, id)
	l.log.Info("server removed", "id", id)
	return nil
}

// Maintain keeps the group at MaxVoters live voters. The node calls it
// periodically on the leader ([ErrNotLeader] elsewhere) with a liveness
// oracle. A voter alive() has reported gone for longer than goneAfter
// (first-seen-gone is tracked per server by the Ledger, from the first call
// that saw it gone) is demoted to a non-voter; then alive non-voters, in
// order of id, are promoted until the group has MaxVoters voters or no
// alive non-voter is left. The leader itself is never demoted. Changes are
// made one at a time, each committed before the next, so the voter set
// never loses more than one member in a step.
//
// A non-voter is promoted only once it has answered the leader's request
// to make its log durable (when the Forwarder is a [VoterPreparer]); one
// that does not is passed over for the next.
//
// A gone voter is demoted rather than removed: it stays in the
// configuration, so when it comes back (a restart, a healed partition) it
// catches up on its own as a non-voter, with its identity and data, and can
// be promoted again later; it counts for no quorum meanwhile. Taking a
// server out for good is [Ledger.Remove]'s job.
func (l *Ledger) Maintain(ctx context.Context, alive func(id string) bool, goneAfter time.Duration) error {
	l.memberMu.Lock()
	defer l.memberMu.Unlock()
	unready := map[string]bool{} // non-voters that failed to prepare, this call
	isAlive := func(id string) bool { return alive(id) && !unready[id] }
	for {
		if err := l.leading(ctx); err != nil {
			return fmt.Errorf("maintain: %w", err)
		}
		servers, err := l.configuration()
		if err != nil {
			return fmt.Errorf("maintain: %w", err)
		}
		id, promote := l.nextChange(servers, isAlive, goneAfter, time.Now())
		if id == "" {
			return nil
		}
		if promote {
			if p, ok := l.cfg.Forwarder.(VoterPreparer); ok {
				if err := p.PrepareVoter(ctx, id); err != nil {
					// Unready: the next candidate, if any, this round.
					l.log.Warn("non-voter not ready to vote", "id", id, "err", err)
					unready[id] = true
					continue
				}
			}
		}
		if err := l.change(ctx, func(timeout time.Duration) raft.IndexFuture {
			if promote {
				return l.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(id), 0, timeout)
			}
			return l.raft.DemoteVoter(raft.ServerID(id), 0, timeout)
		}); err != nil {
			if promote {
				return fmt.Errorf("maintain: promote %s: %w", id, err)
			}
			return fmt.Errorf("maintain: demote %s: %w", id, err)
		}
		if promote {
			l.log.Info("non-voter promoted", "id", id)
		} else {
			l.log.Info("gone voter demoted", "id", id)
		}
	}
}

// nextChange updates the gone-since records from alive and returns the next
// membership change Maintain makes: a voter to demote (promote false), a
// non-voter to promote (promote true), or "" when the group is as it should
// be. The caller holds memberMu.
func (l *Ledger) nextChange(servers []raft.Server, alive func(string) bool, goneAfter time.Duration, now time.Time) (id string, promote bool) {
	if l.goneSince == nil {
		l.goneSince = make(map[string]time.Time)
	}
	present := make(map[string]bool, len(servers))
	var gone, candidates []string
	voters := 0
	for _, s := range servers {
		sid := string(s.ID)
		present[sid] = true
		if s.Suffrage == raft.Voter {
			voters++
		}
		if sid == l.cfg.ID {
			delete(l.goneSince, sid)
			continue
		}
		if alive(sid) {
			delete(l.goneSince, sid)
			if s.Suffrage != raft.Voter {
				candidates = append(candidates, sid)
			}
			continue
		}
		since, ok := l.goneSince[sid]
		if !ok {
			l.goneSince[sid] = now
			since = now
		}
		if s.Suffrage == raft.Voter && now.Sub(since) >= goneAfter {
			gone = append(gone, sid)
		}
	}
	for sid := range l.goneSince {
		if !present[sid] {
			delete(l.goneSince, sid)
		}
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		return gone[0], false
	}
	if voters < l.cfg.maxVoters() && len(candidates) > 0 {
		slices.Sort(candidates)
		return candidates[0], true
	}
	return "", false
}

// leading returns nil when this node leads, ErrNotLeader (with the leader's
// id when known) otherwise.
func (l *Ledger) leading(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.isClosed() {
		return ErrClosed
	}
	if l.raft.State() != raft.Leader {
		if leader := l.Leader(); leader != "" {
			return fmt.Errorf("%w: leader is %s", ErrNotLeader, leader)
		}
		return ErrNotLeader
	}
	return nil
}

// change starts a configuration change and waits until it is committed,
// until ctx's deadline (ApplyTimeout from now when ctx has none).
func (l *Ledger) change(ctx context.Context, start func(timeout time.Duration) raft.IndexFuture) error {
	deadline := time.Now().Add(l.cfg.ApplyTimeout)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	_, err := l.await(ctx, deadline, func() (raft.Future, func() any) {
		return start(max(time.Until(deadline), time.Millisecond)), nil
	})
	return err
}
