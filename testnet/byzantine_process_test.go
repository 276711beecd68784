package testnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/p2p/ledgerrpc"
)

// The byzantine suite again, on a `dds testnet` of processes: the stock
// binary, four daemons, and the attacker a libp2p host of its own. Each
// attack is refused; after them every node shows the unpaid file still
// quoted and the paid one with the same holders, and serves its bytes
// intact.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// ddsBinary builds the dds command once for the tests of this package
// (TestMain removes it).
func ddsBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dds-testnet-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dds")
		if out, err := exec.Command("go", "build", "-o", binPath, "../cmd/dds").CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build dds: %v", buildErr)
	}
	return binPath
}

// startProcessNet starts a dds testnet of n daemon processes in a temp
// dir (skipped with -short), stopped when t ends; it returns the network,
// a context bounding the test, and the daemons' stderr.
func startProcessNet(t *testing.T, n int, logLevel string) (*ProcessNetwork, context.Context, *lockedWriter) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the dds binary; skipped with -short")
	}
	bin := ddsBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	stderr := &lockedWriter{w: &bytes.Buffer{}}
	nw, err := StartProcesses(ctx, ProcessOptions{Binary: bin, Nodes: n, Dir: t.TempDir(), Stderr: stderr,
		ExtraArgs: []string{"--log-level", logLevel}})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { _ = nw.Stop() })
	return nw, ctx, stderr
}

func TestAttacksOnAProcessTestnet(t *testing.T) {
	nw, ctx, _ := startProcessNet(t, 4, "error")
	dir := nw.dir
	var err error
	clients := make([]*client.Client, len(nw.Nodes))
	for i, n := range nw.Nodes {
		if clients[i], err = client.New(n.HTTP, client.WithBillingToken(n.BillingToken)); err != nil {
			t.Fatal(err)
		}
	}
	c := clients[0]
	data := bytes.Repeat([]byte("paid and held, by processes "), 40000)
	paid, err := c.Upload(ctx, bytes.NewReader(data), client.UploadOptions{Name: "paid.bin", Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pay(ctx, paid.ID, api.PaymentSuccess, paid.Price, ""); err != nil {
		t.Fatal(err)
	}
	if paid, err = c.WaitState(ctx, paid.ID, nil, api.StateStored); err != nil {
		t.Fatal(err)
	}
	unpaid, err := c.Upload(ctx, bytes.NewReader([]byte("not paid")), client.UploadOptions{Name: "unpaid.bin", Size: 8})
	if err != nil {
		t.Fatal(err)
	}

	a := newAttacker(t)
	connect := func(i int) peer.ID {
		t.Helper()
		ai, err := peer.AddrInfoFromString(nw.Nodes[i].P2P[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := a.host.Libp2p().Connect(ctx, *ai); err != nil {
			t.Fatal(err)
		}
		return ai.ID
	}
	leader := -1
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nw.Nodes {
		if n.PeerID == st.Leader {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("no leader among the nodes (%q)", st.Leader)
	}

	// As an outsider: free storage, a cancel, erasing by time, Raft RPCs,
	// joins without a valid invite of its own.
	lid := connect(leader)
	for name, cmd := range map[string]billing.Command{
		"registration": {Time: time.Now(), Register: &billing.Register{Node: billing.Node{PeerID: a.host.ID().String(), PublicKey: a.host.PublicKey()}}},
		"free storage": {Time: time.Now(), Pay: &billing.Pay{PaymentID: "free", FileID: unpaid.ID, Status: billing.PaymentSuccess, Amount: int64(unpaid.Price), ReceivedBy: a.host.ID().String()}},
		"cancel":       {Time: time.Now(), Pay: &billing.Pay{PaymentID: "cancel", FileID: paid.ID, Status: billing.PaymentError, ReceivedBy: a.host.ID().String()}},
		"erase":        {Time: time.Now().AddDate(100, 0, 0), Expire: &billing.Expire{}},
	} {
		if err := a.forwardAt(lid, cmd); err == nil {
			t.Fatalf("outsider's %s: served", name)
		}
	}
	for i, err := range a.raftRPCs(lid, 1<<30) {
		if err == nil {
			t.Fatalf("outsider's raft RPC %d: served", i)
		}
	}
	admission, err := loadAdmission(dir)
	if err != nil {
		t.Fatal(err)
	}
	me := a.host.ID().String()
	for name, invite := range map[string]string{
		"no invite":             "",
		"someone else's invite": billing.SignInvite(admission, nw.Nodes[1].PeerID, time.Now().Add(time.Hour)).String(),
		"an expired invite":     billing.SignInvite(admission, me, time.Now().Add(-time.Minute)).String(),
		"another network's":     billing.SignInvite(otherKey(t), me, time.Now().Add(time.Hour)).String(),
	} {
		if err := a.join(connect((leader+1)%len(nw.Nodes)), invite); err == nil {
			t.Fatalf("join with %s: admitted", name)
		}
	}

	// Admitted, as a member: commands in another member's name or with a
	// made-up signature, a far-future expiry, dropping the honest holders.
	if err := a.join(connect((leader+1)%len(nw.Nodes)), billing.SignInvite(admission, me, time.Now().Add(time.Hour)).String()); err != nil {
		t.Fatalf("join with a valid invite: %v", err)
	}
	a.register(lid)
	other := nw.Nodes[(leader+2)%len(nw.Nodes)].PeerID
	theirs := billing.Command{Time: time.Now(), Pay: &billing.Pay{PaymentID: "theirs", FileID: unpaid.ID, Status: billing.PaymentSuccess, Amount: int64(unpaid.Price), ReceivedBy: other}}
	msg, err := theirs.Message(other)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := a.host.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	mine := billing.Command{Time: time.Now(), Pay: &billing.Pay{PaymentID: "mine", FileID: unpaid.ID, Status: billing.PaymentSuccess, Amount: int64(unpaid.Price), ReceivedBy: me}}
	mineMsg, err := mine.Message(me)
	if err != nil {
		t.Fatal(err)
	}
	for name, cmd := range map[string]billing.Command{
		"a payment in another's name": theirs.WithSig(other, msg, sig),
		"a made-up signature":         mine.WithSig(me, mineMsg, make([]byte, 64)),
		"erase":                       {Time: time.Now().AddDate(100, 0, 0), Expire: &billing.Expire{}},
	} {
		// Refused for what it is (by the leader, or by every replica's
		// state machine), not for want of membership.
		if err := a.forwardAt(lid, cmd); !errors.Is(err, ledgerrpc.ErrForbidden) && !errors.Is(err, billing.ErrForbidden) {
			t.Fatalf("member's %s: %v", name, err)
		}
	}
	for _, h := range paid.Replicas {
		if err := a.forward(lid, billing.Command{Drop: &billing.Drop{FileID: paid.ID, Holder: h}}); !errors.Is(err, billing.ErrForbidden) {
			t.Fatalf("member dropping holder %s without evidence: %v", h, err)
		}
	}
	// Nor record itself a holder, with its own receipt, nor quote with
	// attestations of its own making.
	rc := billing.Receipt{FileID: paid.ID, CID: paid.CID, Size: paid.Size, Holder: me}
	if rc.Signature, err = a.host.Sign(rc.Canonical()); err != nil {
		t.Fatal(err)
	}
	if err := a.forward(lid, billing.Command{Hold: &billing.Hold{FileID: paid.ID, Receipts: []billing.Receipt{rc}}}); !errors.Is(err, billing.ErrForbidden) {
		t.Fatalf("member recording itself a holder: %v", err)
	}
	q := billing.Quote{FileID: "00000000-0000-4000-8000-000000000001", Kind: billing.QuoteNew, Issuer: me, CID: paid.CID, Size: paid.Size, Name: "x",
		Duration: 3600, Replicas: 3, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(15 * time.Minute)}
	var atts []billing.Attestation
	for range 3 {
		s, err := a.host.Sign(q.Canonical())
		if err != nil {
			t.Fatal(err)
		}
		atts = append(atts, billing.Attestation{Signer: me, Signature: s})
	}
	if err := a.forward(lid, billing.Command{Quote: &billing.PutQuote{Quote: q, Attestations: atts}}); err == nil {
		t.Fatal("a quote attested by its issuer alone: applied")
	}

	// Every node: the unpaid file quoted, the paid one held by the same
	// holders and read intact.
	for i, cl := range clients {
		u, err := cl.File(ctx, unpaid.ID)
		if err != nil || u.State != api.StateQuoted {
			t.Fatalf("node%d: the unpaid file is %v (%v)", i, u, err)
		}
		p, err := cl.File(ctx, paid.ID)
		if err != nil || p.State != api.StateStored || !slices.Equal(p.Replicas, paid.Replicas) {
			t.Fatalf("node%d: the paid file %v, holders %v, were %v", i, err, p.Replicas, paid.Replicas)
		}
		body, _, err := cl.Download(ctx, paid.ID, 0, -1)
		if err != nil {
			t.Fatalf("node%d: download: %v", i, err)
		}
		got, err := io.ReadAll(body)
		body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("node%d: the paid file changed (%v)", i, err)
		}
	}
}

// lockedWriter serializes the daemons' writes to w; String is what they
// wrote, when w is a bytes.Buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.w.(*bytes.Buffer); ok {
		return b.String()
	}
	return ""
}
