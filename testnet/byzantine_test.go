package testnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/node"
	"github.com/ddsnet/dds/p2p"
	"github.com/ddsnet/dds/p2p/attest"
	"github.com/ddsnet/dds/p2p/fetch"
	"github.com/ddsnet/dds/p2p/ledgerrpc"
	"github.com/ddsnet/dds/p2p/wire"
	"github.com/ddsnet/dds/p2p/witness"
)

// The byzantine suite: an attacker built from the project's own packages
// (a real libp2p host with a key of its own) tries what an outsider, or a
// member since removed, could try against a network. After each attack
// the honest nodes agree on one ledger, and the paid file reads intact
// from every node.

// attacker is a libp2p host that is no member of any network.
type attacker struct {
	t    *testing.T
	host *p2p.Host
}

func newAttacker(t *testing.T) *attacker {
	t.Helper()
	key, err := p2p.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(t.Context(), p2p.Config{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &attacker{t: t, host: h}
}

// connect dials nd.
func (a *attacker) connect(nd *Node) peer.ID {
	a.t.Helper()
	ai, err := peer.AddrInfoFromString(nd.P2P[0])
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.host.Libp2p().Connect(a.t.Context(), *ai); err != nil {
		a.t.Fatal(err)
	}
	return ai.ID
}

// forward sends cmd, stamped now, to p on the ledger's forward protocol,
// as a follower forwards a command to the leader.
func (a *attacker) forward(p peer.ID, cmd billing.Command) error {
	cmd.Time = time.Now()
	return a.forwardAt(p, cmd)
}

// forwardAt is forward with the time cmd carries. cmd is proposed and
// signed by the attacker with its own key, unless it names its proposer
// (then it goes as it is). A command the ledger took and refused answers
// its refusal.
func (a *attacker) forwardAt(p peer.ID, cmd billing.Command) error {
	if cmd.By == "" {
		me := a.host.ID().String()
		msg, err := cmd.Message(me)
		if err != nil {
			a.t.Fatal(err)
		}
		sig, err := a.host.Sign(msg)
		if err != nil {
			a.t.Fatal(err)
		}
		cmd = cmd.WithSig(me, msg, sig)
	}
	b, err := cmd.Encode()
	if err != nil {
		a.t.Fatal(err)
	}
	out, err := ledgerrpc.Forward(a.t.Context(), wire.NewClient(a.host.Libp2p()), p, b)
	if err != nil {
		return err
	}
	res, err := billing.DecodeResult(out)
	if err != nil {
		return err
	}
	return res.Refusal()
}

// register has the ledger record the attacker (a member) as a node, as a
// node registers itself through the leader p: so that what it tries
// next is refused for what it is, not for want of a registration.
func (a *attacker) register(p peer.ID) {
	a.t.Helper()
	if err := a.forward(p, billing.Command{Register: &billing.Register{Node: billing.Node{PeerID: a.host.ID().String(), PublicKey: a.host.PublicKey()}}}); err != nil {
		a.t.Fatalf("the admitted attacker registering itself: %v", err)
	}
}

// join asks p to admit the attacker with invite.
func (a *attacker) join(p peer.ID, invite string) error {
	_, err := ledgerrpc.Join(a.t.Context(), a.host.Libp2p(), p, ledgerrpc.JoinRequest{PeerID: a.host.ID().String(), Invite: invite})
	return err
}

// raftRPCs sends the Raft RPCs that change a replica (AppendEntries with an
// entry, InstallSnapshot's header, TimeoutNow) to p; it returns their
// errors.
func (a *attacker) raftRPCs(p peer.ID, term uint64) []error {
	trans := raft.NewNetworkTransport(a.host.RaftLayer(), 1, 2*time.Second, io.Discard)
	defer trans.Close()
	target := raft.ServerAddress(p.String())
	cmd, _ := billing.Command{Time: time.Now(), Expire: &billing.Expire{}}.Encode()
	ae := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ID: []byte(a.host.ID().String()), Addr: []byte(a.host.ID().String())},
		Term:      term, PrevLogEntry: 0, PrevLogTerm: 0, LeaderCommitIndex: 1 << 20,
		Entries: []*raft.Log{{Index: 1 << 20, Term: term, Type: raft.LogCommand, Data: cmd}},
	}
	var errs []error
	errs = append(errs, trans.AppendEntries(raft.ServerID(p.String()), target, ae, &raft.AppendEntriesResponse{}))
	errs = append(errs, trans.TimeoutNow(raft.ServerID(p.String()), target,
		&raft.TimeoutNowRequest{RPCHeader: ae.RPCHeader}, &raft.TimeoutNowResponse{}))
	errs = append(errs, trans.InstallSnapshot(raft.ServerID(p.String()), target,
		&raft.InstallSnapshotRequest{RPCHeader: ae.RPCHeader, Term: term, LastLogIndex: 1 << 20, LastLogTerm: term, Size: 1},
		&raft.InstallSnapshotResponse{}, bytes.NewReader([]byte{0})))
	return errs
}

// otherKey is an ed25519 key that is not the network's admission key: the
// admission key of another network.
func otherKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// byzantineNet is a 4-node network with one paid, stored file.
type byzantineNet struct {
	*Network
	t    *testing.T
	data []byte
	file *client.File
}

func startByzantineNet(t *testing.T) *byzantineNet {
	t.Helper()
	nw := startNet(t, 4)
	bn := &byzantineNet{Network: nw, t: t, data: bytes.Repeat([]byte("paid and held "), 50000)}
	c := clientOf(t, nw.Nodes[0])
	f, err := c.Upload(t.Context(), bytes.NewReader(bn.data), client.UploadOptions{Name: "paid.bin", Size: int64(len(bn.data))})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Pay(t.Context(), f.ID, "success", f.Price, "")
	if err != nil {
		t.Fatal(err)
	}
	// The ledger records which member took the payment: it answers for it.
	if p.ReceivedBy != nw.Nodes[0].Node.PeerID() {
		t.Fatalf("payment received by %q, want node0 %s", p.ReceivedBy, nw.Nodes[0].Node.PeerID())
	}
	deadline := time.Now().Add(30 * time.Second)
	for f.State != api.StateStored {
		if time.Now().After(deadline) {
			t.Fatalf("file not stored: %s", f.State)
		}
		time.Sleep(50 * time.Millisecond)
		if f, err = c.File(t.Context(), f.ID); err != nil {
			t.Fatal(err)
		}
	}
	bn.file = f
	return bn
}

// memberAttacker is an attacker the network admitted (no place in the
// ledger's group): a member that turned.
func (bn *byzantineNet) memberAttacker() *attacker {
	bn.t.Helper()
	a := newAttacker(bn.t)
	if err := bn.Admit(bn.t.Context(), a.host.ID()); err != nil {
		bn.t.Fatal(err)
	}
	return a
}

// leader is the running node that leads the ledger.
func (bn *byzantineNet) leader() *Node {
	bn.t.Helper()
	for _, nd := range bn.Nodes {
		if nd.Node != nil && nd.Node.Status(bn.t.Context()).Leader == nd.Node.PeerID() {
			return nd
		}
	}
	bn.t.Fatal("no leader")
	return nil
}

// intact checks that the honest nodes agree on one ledger, that the paid
// file reads whole from every one of them, and that a file quoted but not
// paid (id) is still only quoted.
func (bn *byzantineNet) intact(quoted string) {
	bn.t.Helper()
	converge(bn.t, bn.Network)
	for _, nd := range bn.Nodes {
		c := clientOf(bn.t, nd)
		body, _, err := c.Download(bn.t.Context(), bn.file.ID, 0, -1)
		if err != nil {
			bn.t.Fatalf("%s: download: %v", nd.Name, err)
		}
		got, err := io.ReadAll(body)
		body.Close()
		if err != nil || !bytes.Equal(got, bn.data) {
			bn.t.Fatalf("%s: the paid file changed", nd.Name)
		}
		if quoted != "" {
			f, err := c.File(bn.t.Context(), quoted)
			if err != nil || f.State != api.StateQuoted {
				bn.t.Fatalf("%s: the unpaid file is %s (%v)", nd.Name, f.State, err)
			}
		}
	}
}

// quote uploads a small file and leaves it unpaid.
func (bn *byzantineNet) quote() *client.File {
	bn.t.Helper()
	c := clientOf(bn.t, bn.Nodes[1])
	f, err := c.Upload(bn.t.Context(), strings.NewReader("not paid"), client.UploadOptions{Name: "unpaid.txt", Size: 8})
	if err != nil {
		bn.t.Fatal(err)
	}
	return f
}

// TestOutsiderCannotWriteTheLedger: a peer that never joined cannot pay a
// quote, cancel one, sweep every lease away with a far-future expiry, or
// write into Raft with AppendEntries, InstallSnapshot or TimeoutNow, on the
// leader or on a follower.
func TestOutsiderCannotWriteTheLedger(t *testing.T) {
	bn := startByzantineNet(t)
	unpaid := bn.quote()
	a := newAttacker(t)
	leader := bn.leader()
	lid := a.connect(leader)
	var follower *Node
	for _, nd := range bn.Nodes {
		if nd != leader {
			follower = nd
			break
		}
	}
	fid := a.connect(follower)
	price := int64(unpaid.Price)
	for _, target := range []peer.ID{lid, fid} {
		for name, cmd := range map[string]billing.Command{
			"free storage": {Time: time.Now(), Pay: &billing.Pay{PaymentID: "free-" + target.String(), FileID: unpaid.ID, Status: billing.PaymentSuccess, Amount: price}},
			"cancel":       {Time: time.Now(), Pay: &billing.Pay{PaymentID: "cancel-" + target.String(), FileID: unpaid.ID, Status: billing.PaymentError}},
			"erase":        {Expire: &billing.Expire{}, Time: time.Now().AddDate(100, 0, 0)},
		} {
			if err := a.forwardAt(target, cmd); err == nil {
				t.Fatalf("%s through %s: the forward was served", name, target)
			}
		}
		for i, err := range a.raftRPCs(target, 1<<30) {
			if err == nil {
				t.Fatalf("raft RPC %d to %s from an outsider succeeded", i, target)
			}
		}
	}
	if leader.Node.Status(t.Context()).Leader != leader.Node.PeerID() {
		t.Fatal("the outsider's TimeoutNow moved the lead")
	}
	bn.intact(unpaid.ID)
	for _, nd := range bn.Nodes {
		if nd.Node.Refused() == 0 && (nd == leader || nd == follower) {
			t.Fatalf("%s refused nothing", nd.Name)
		}
	}
}

// TestJoinNeedsItsOwnValidInvite: a node joins only with an unexpired
// invite of this network's admission key for its own peer id (a used one:
// TestRemovedMemberIsCutOff); a node started with --bootstrap and no
// invite does not start.
func TestJoinNeedsItsOwnValidInvite(t *testing.T) {
	bn := startByzantineNet(t)
	a := newAttacker(t)
	target := a.connect(bn.Nodes[2])
	admission, err := loadAdmission(bn.opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	other := newAttacker(t)
	otherAdmission := otherKey(t)
	me := a.host.ID().String()
	for name, invite := range map[string]string{
		"none":            "",
		"garbage":         "dds-invite-1:xyz",
		"expired":         billing.SignInvite(admission, me, time.Now().Add(-time.Minute)).String(),
		"someone else's":  billing.SignInvite(admission, other.host.ID().String(), time.Now().Add(time.Hour)).String(),
		"another network": billing.SignInvite(otherAdmission, me, time.Now().Add(time.Hour)).String(),
	} {
		err := a.join(target, invite)
		var re *wire.RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Msg, "forbidden") {
			t.Fatalf("join with %s invite: %v", name, err)
		}
	}
	for _, nd := range bn.Nodes {
		if slices.ContainsFunc(nd.Node.Info(t.Context()).Quorum, func(m api.Member) bool { return m.PeerID == me }) {
			t.Fatalf("%s lists the outsider in its quorum", nd.Name)
		}
	}

	// A daemon with --bootstrap and no invite does not become a member.
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.P2PAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Bootstrap = bn.Nodes[1].P2P[:1]
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err == nil || !strings.Contains(err.Error(), "forbidden") {
		n.Close()
		t.Fatalf("a node without an invite started: %v", err)
	}
	n.Close()
	bn.intact("")
}

// TestRemovedMemberIsCutOff: a member the admission key removes loses its
// connections and its Raft RPCs are refused; its invite, used once, does
// not admit it again, while a new invite does.
func TestRemovedMemberIsCutOff(t *testing.T) {
	bn := startByzantineNet(t)
	a := newAttacker(t)
	target := a.connect(bn.Nodes[1])
	admission, err := loadAdmission(bn.opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	me := a.host.ID().String()
	invite := billing.SignInvite(admission, me, time.Now().Add(time.Hour)).String()
	if err := a.join(target, invite); err != nil {
		t.Fatalf("join with a valid invite: %v", err)
	}
	converge(t, bn.Network)
	for _, nd := range bn.Nodes {
		if !nd.Node.Admits(a.host.ID()) {
			t.Fatalf("%s does not take the admitted node as a member", nd.Name)
		}
	}
	// Used twice: the member asks again (harmless), then is removed and
	// asks with the same invite.
	// Removed over HTTP, as `dds member remove` does; a removal signed by
	// another key is refused and changes nothing.
	c0 := clientOf(t, bn.Nodes[0])
	forged := billing.SignRemoval(otherKey(t), me, time.Now())
	var ce *client.Error
	if err := c0.RemoveMember(t.Context(), me, api.Removal{At: forged.At, Signature: forged.Signature}); !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
		t.Fatalf("forged removal: %v", err)
	}
	if !bn.Nodes[0].Node.Admits(a.host.ID()) {
		t.Fatal("a forged removal removed the member")
	}
	removal := billing.SignRemoval(admission, me, time.Now())
	if err := c0.RemoveMember(t.Context(), me, api.Removal{At: removal.At, Signature: removal.Signature}); err != nil {
		t.Fatal(err)
	}
	converge(t, bn.Network)
	deadline := time.Now().Add(20 * time.Second)
	for {
		gone := true
		for _, nd := range bn.Nodes {
			if nd.Node.Admits(a.host.ID()) || len(nd.Node.Libp2p().Network().ConnsToPeer(a.host.ID())) > 0 {
				gone = false
			}
			if slices.ContainsFunc(nd.Node.Info(t.Context()).Quorum, func(m api.Member) bool { return m.PeerID == me }) {
				gone = false
			}
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the removed member is still connected or in the quorum")
		}
		time.Sleep(100 * time.Millisecond)
	}
	target = a.connect(bn.Nodes[2])
	for i, err := range a.raftRPCs(target, 1<<30) {
		if err == nil {
			t.Fatalf("raft RPC %d from a removed member succeeded", i)
		}
	}
	if err := a.forward(target, billing.Command{Expire: &billing.Expire{}}); err == nil {
		t.Fatal("a removed member's forward was served")
	}
	err = a.join(target, invite)
	var re *wire.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "used already") {
		t.Fatalf("join again with the used invite: %v", err)
	}
	if err := a.join(target, billing.SignInvite(admission, me, time.Now().Add(time.Hour)).String()); err != nil {
		t.Fatalf("join with a new invite after the removal: %v", err)
	}
	bn.intact("")
}

// TestMemberCannotStampTheLedgersTime: even a member (admitted, so past
// the gate) cannot move the ledger's time: a forwarded Expire stamped a
// century ahead (which would end every lease and free every stored byte)
// and a payment stamped an hour back (which would pay a quote that
// expired) are refused by the leader, whose clock bounds a command's; nor
// can it forward a payment as received by another member.
func TestMemberCannotStampTheLedgersTime(t *testing.T) {
	bn := startByzantineNet(t)
	unpaid := bn.quote()
	a := bn.memberAttacker()
	lid := a.connect(bn.leader())
	me := a.host.ID().String()
	a.register(lid)
	for name, cmd := range map[string]billing.Command{
		"erase":    {Time: time.Now().AddDate(100, 0, 0), Expire: &billing.Expire{}},
		"backdate": {Time: time.Now().Add(-time.Hour), Pay: &billing.Pay{PaymentID: "late", FileID: unpaid.ID, Status: billing.PaymentSuccess, Amount: int64(unpaid.Price), ReceivedBy: me}},
	} {
		err := a.forwardAt(lid, cmd)
		var re *wire.RemoteError
		if !errors.Is(err, ledgerrpc.ErrForbidden) || !errors.As(err, &re) || !strings.Contains(re.Msg, "leader's clock") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Nor can it pass a payment off as another member's, propose a quote
	// in another's name, or forward a command another member proposed
	// (signed with its own key, or a made-up signature): the leader
	// refuses what a member forwards as another's, and every replica
	// refuses a command not signed by its proposer, alike.
	other := bn.Nodes[2].Node.PeerID()
	forbidden := func(what string, err error, says string) {
		t.Helper()
		var re *wire.RemoteError
		if !errors.Is(err, billing.ErrForbidden) && !(errors.As(err, &re) && strings.Contains(re.Msg, says)) {
			t.Fatalf("%s: %v", what, err)
		}
	}
	pay := billing.Command{Pay: &billing.Pay{PaymentID: "theirs", FileID: unpaid.ID, Status: billing.PaymentSuccess, Amount: int64(unpaid.Price), ReceivedBy: other}}
	forbidden("a payment passed off as another's", a.forward(lid, pay), "")
	theirs := pay
	theirs.Time = time.Now()
	msg, err := theirs.Message(other)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := a.host.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	forbidden("a command in another's name", a.forwardAt(lid, theirs.WithSig(other, msg, sig)), "forwards its own commands")
	mine := billing.Command{Time: time.Now(), Pay: &billing.Pay{PaymentID: "mine", FileID: unpaid.ID, Status: billing.PaymentSuccess, Amount: int64(unpaid.Price), ReceivedBy: me}}
	msg, err = mine.Message(me)
	if err != nil {
		t.Fatal(err)
	}
	forbidden("a command with a made-up signature", a.forwardAt(lid, mine.WithSig(me, msg, make([]byte, 64))), "")
	q := billing.Quote{FileID: "stolen", Kind: billing.QuoteNew, Issuer: other, CID: unpaid.CID, Size: int64(unpaid.Size), Name: "x",
		Duration: 3600, Replicas: 3, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
	forbidden("a quote issued in another's name", a.forward(lid, billing.Command{Quote: &billing.PutQuote{Quote: q}}), "")
	bn.intact(unpaid.ID)
}

// TestMemberCannotFetchUnpaidUploads: the cid of an unpaid upload is in
// the ledger's quote for every member to read, but the node that staged
// it does not serve its manifest or chunks to peers until it is paid: no
// free storage and distribution for the quote's lifetime. Paid, the file
// is fetched as any other.
func TestMemberCannotFetchUnpaidUploads(t *testing.T) {
	bn := startByzantineNet(t)
	a := bn.memberAttacker()
	issuer := bn.Nodes[1]
	id := a.connect(issuer)
	c := clientOf(t, issuer)
	data := bytes.Repeat([]byte("unpaid, not served "), 100000)
	f, err := c.Upload(t.Context(), bytes.NewReader(data), client.UploadOptions{Name: "unpaid.bin", Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	root, err := cid.Decode(f.CID)
	if err != nil {
		t.Fatal(err)
	}
	svc := fetch.New(a.host.Libp2p(), nil, fetch.Options{Timeout: 5 * time.Second})
	defer svc.Close()
	if _, err := svc.Manifest(t.Context(), root, []peer.ID{id}); !errors.Is(err, fetch.ErrNotFound) {
		t.Fatalf("the unpaid upload's manifest: %v, want ErrNotFound", err)
	}
	if _, err := c.Pay(t.Context(), f.ID, "success", f.Price, ""); err != nil {
		t.Fatal(err)
	}
	// Once the issuer's replica shows the payment (a moment after it was
	// committed), the file is served.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := svc.Manifest(t.Context(), root, []peer.ID{id})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the paid file's manifest: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMemberCannotDropHonestHolders: a member (admitted, so past the gate)
// that would take a file over, or erase it, by dropping its honest
// holders is refused on every replica: a drop with no evidence, with its
// own report alone, or with a report it made up in another member's name.
// Asked to confirm, a witness challenges the holder itself, sees it
// answer, and signs nothing. The holders stay, and the file reads intact.
func TestMemberCannotDropHonestHolders(t *testing.T) {
	bn := startByzantineNet(t)
	a := bn.memberAttacker()
	lid := a.connect(bn.leader())
	me := a.host.ID().String()
	a.register(lid)
	holders := bn.holders()
	if len(holders) != 3 {
		t.Fatalf("holders %v", holders)
	}
	// The attacker's own report about holder h, and one in the name of
	// another member, signed with the attacker's key.
	report := func(h, as string) billing.FailureReport {
		r := billing.FailureReport{FileID: bn.file.ID, Holder: h, Reporter: as, At: time.Now(), Reason: "made up"}
		sig, err := a.host.Sign(r.Canonical())
		if err != nil {
			t.Fatal(err)
		}
		r.Signature = sig
		return r
	}
	var witnessID string
	for _, nd := range bn.Nodes {
		if id := nd.Node.PeerID(); !slices.Contains(holders, id) {
			witnessID = id
		}
	}
	for _, h := range holders {
		other := holders[0]
		if other == h {
			other = holders[1]
		}
		for name, d := range map[string]*billing.Drop{
			"no evidence":        {FileID: bn.file.ID, Holder: h},
			"its own word":       {FileID: bn.file.ID, Holder: h, Reports: []billing.FailureReport{report(h, me)}},
			"a made-up report":   {FileID: bn.file.ID, Holder: h, Reports: []billing.FailureReport{report(h, me), report(h, other)}},
			"the holder's words": {FileID: bn.file.ID, Holder: h, Reports: []billing.FailureReport{report(h, me), report(h, h)}},
		} {
			if err := a.forward(lid, billing.Command{Drop: d}); !errors.Is(err, billing.ErrForbidden) && !errors.Is(err, billing.ErrInvalid) {
				t.Fatalf("drop %s with %s: %v", h, name, err)
			}
		}
		// A witness asked about an honest holder checks it and refuses.
		wid, err := peer.Decode(witnessID)
		if err != nil {
			t.Fatal(err)
		}
		a.connect(bn.byID(witnessID))
		svc := witness.New(a.host.Libp2p(), noWitness{}, witness.Options{})
		if _, err := svc.Ask(t.Context(), wid, bn.file.ID, h); !errors.Is(err, witness.ErrHolderAnswered) {
			t.Fatalf("a witness asked about honest holder %s: %v", h, err)
		}
	}
	bn.intact("")
	if got := bn.holders(); !slices.Equal(got, holders) {
		t.Fatalf("holders %v, were %v", got, holders)
	}
}

// holders lists the nodes that hold the paid file, as they say, sorted.
func (bn *byzantineNet) holders() []string {
	var out []string
	for _, nd := range bn.Nodes {
		if nd.Node.Holds(bn.t.Context(), bn.file.ID) {
			out = append(out, nd.Node.PeerID())
		}
	}
	slices.Sort(out)
	return out
}

// byID is the node with peer id id.
func (bn *byzantineNet) byID(id string) *Node {
	bn.t.Helper()
	for _, nd := range bn.Nodes {
		if nd.Node.PeerID() == id {
			return nd
		}
	}
	bn.t.Fatalf("no node %s", id)
	return nil
}

// noWitness refuses every witness request (the attacker only asks).
type noWitness struct{}

func (noWitness) Check(context.Context, peer.ID, string, string) (billing.FailureReport, error) {
	return billing.FailureReport{}, witness.ErrUnknown
}

// TestPaymentsNeedTheProcessorsSignature: in a network made with a payment
// processor's key, a payment without the processor's signature of it is
// refused on every node, whoever holds a billing token (every member
// does): no member can mint one. With it, the file is stored as usual.
func TestPaymentsNeedTheProcessorsSignature(t *testing.T) {
	pub, processor, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	nw, err := Start(ctx, Options{Nodes: 4, Dir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel})),
		Config: func(i int, cfg *node.Config) {
			if i == 0 {
				cfg.ProcessorKey = pub
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Close() })
	c := clientOf(t, nw.Nodes[1])
	data := []byte("paid through the processor")
	f, err := c.Upload(t.Context(), bytes.NewReader(data), client.UploadOptions{Name: "p.bin", Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	auth := billing.PaymentAuthorization{FileID: f.ID, Status: api.PaymentSuccess, Amount: int64(f.Price), QuoteExpiresAt: *f.QuoteExpiresAt}
	_, other, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cheap := auth
	cheap.Amount--
	for name, sig := range map[string][]byte{
		"no signature":             nil,
		"another key's":            auth.Sign(other),
		"signed for another price": cheap.Sign(processor),
	} {
		for _, nd := range nw.Nodes {
			_, err := clientOf(t, nd).PaySigned(t.Context(), f.ID, api.PaymentSuccess, f.Price, "", sig)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
				t.Fatalf("%s at %s: %v", name, nd.Name, err)
			}
		}
	}
	// Nor can a member cancel the quote.
	if _, err := c.Pay(t.Context(), f.ID, api.PaymentError, 0, ""); err == nil {
		t.Fatal("an unsigned cancel applied")
	}
	if got, err := c.File(t.Context(), f.ID); err != nil || got.State != api.StateQuoted {
		t.Fatalf("after the refused payments: %v %v", got, err)
	}
	p, err := clientOf(t, nw.Nodes[2]).PaySigned(t.Context(), f.ID, api.PaymentSuccess, f.Price, "", auth.Sign(processor))
	if err != nil {
		t.Fatal(err)
	}
	if p.ReceivedBy != nw.Nodes[2].Node.PeerID() {
		t.Fatalf("received by %s", p.ReceivedBy)
	}
	if _, err := c.WaitState(t.Context(), f.ID, nil, api.StateStored); err != nil {
		t.Fatal(err)
	}
	converge(t, nw)
}

// TestOversizedMessagesRefused: a member sending a message past a
// protocol's limit on any of the request protocols is refused before the
// message is read whole, and the node serves on: the paid file reads
// intact, the ledgers agree.
func TestOversizedMessagesRefused(t *testing.T) {
	bn := startByzantineNet(t)
	a := bn.memberAttacker()
	target := a.connect(bn.leader())
	for proto, limit := range map[protocol.ID]int{
		attest.Protocol:           attest.MaxMessage,
		ledgerrpc.JoinProtocol:    ledgerrpc.MaxMessage,
		ledgerrpc.ForwardProtocol: ledgerrpc.MaxMessage,
		ledgerrpc.IndexProtocol:   ledgerrpc.MaxMessage,
		ledgerrpc.PrepareProtocol: ledgerrpc.MaxMessage,
		witness.Protocol:          witness.MaxRequest,
	} {
		// The length of a message one byte past the limit, and none of
		// its bytes: the node must answer from the length alone.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		s, err := a.host.Libp2p().NewStream(ctx, target, proto)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", proto, err)
		}
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := s.Write(binary.AppendUvarint(nil, uint64(limit+1))); err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		var reply struct {
			Error string `json:"error"`
		}
		err = wire.ReadJSON(s, 1<<10, &reply)
		_ = s.Reset()
		cancel()
		if err != nil || !strings.Contains(reply.Error, wire.ErrTooLarge.Error()) {
			t.Fatalf("%s: a message of %d bytes announced: answered %+v, %v", proto, limit+1, reply, err)
		}
	}
	bn.intact("")
}
