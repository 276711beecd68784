package testnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/uuid"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

// The fault suite: a nemesis injects faults into a `dds testnet` of five
// processes (SIGKILL and restart of any node or of the leader, SIGSTOP,
// a partition through the connection gater) while clients upload, pay,
// extend and read at every node. Every operation and its answer is
// recorded. Once the faults are healed: every node is up; every file with
// a payment is stored with all its holders, the same on every node, and
// downloads intact from every node; every payment acknowledged is in
// every replica's ledger; and the history is linearizable (porcupine,
// with the model in faultmodel_test.go).
//
// DDS_FAULT_SEED replays a run's schedule of faults and operations (the
// timing of the processes is the machine's); DDS_FAULT_DURATION (a Go
// duration) sets how long faults are injected; DDS_FAULT_OUT, a directory,
// keeps the history's visualization of a failed run there.

// faultSuiteNodes: five, so that with one node down, paused or cut off
// every quote still finds three members to attest it besides its issuer.
const faultSuiteNodes = 5

// faultOpTimeout bounds one request: a paused node answers nothing.
const faultOpTimeout = 10 * time.Second

// history records the operations of a run, safe for concurrent use.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// never is the return time of an operation whose answer was lost: it may
// take effect at any time after its call.
const never = int64(1 << 62)

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(client int, in fileOp, call int64, out fileResult) {
	ret := h.now()
	if out.Out == outUnknown {
		ret = never
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

// tally counts what a run did.
type tally struct {
	uploads, payments, extensions, reads, downloads atomic.Int64 // acknowledged
	unknown, refused, readFails                     atomic.Int64
}

// faultFile is a file a client uploaded, and what it knows of it.
type faultFile struct {
	id   string
	sum  [32]byte
	size int
	paid atomic.Bool // some answer said the first quote was paid
}

// faultRun is the state of one run shared by its clients.
type faultRun struct {
	t       *testing.T
	seed    uint64
	clients []*client.Client // by node: the nodes keep their HTTP ports across restarts
	// diagnose describes what the daemons said of a file (for a failure).
	diagnose func(fileID string) string
	hist     *history
	count    tally
	mu       sync.Mutex
	files    []*faultFile
}

func TestFaultsLoseNothing(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DDS_FAULT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("DDS_FAULT_SEED: %v", err)
		}
	}
	faultFor := 40 * time.Second
	if s := os.Getenv("DDS_FAULT_DURATION"); s != "" {
		var err error
		if faultFor, err = time.ParseDuration(s); err != nil {
			t.Fatalf("DDS_FAULT_DURATION: %v", err)
		}
	}
	t.Logf("seed %d (replay: DDS_FAULT_SEED=%d go test ./testnet -run TestFaultsLoseNothing)", seed, seed)
	t.Setenv("DDS_FAULT_SIGNALS", "1") // the daemons take SIGUSR1/SIGUSR2 as partition and heal

	nw, _, stderr := startProcessNet(t, faultSuiteNodes, "warn")
	ctx, cancel := context.WithTimeout(t.Context(), faultFor+5*time.Minute)
	defer cancel()

	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	run := &faultRun{t: t, seed: seed, hist: &history{start: time.Now()}}
	for _, nd := range nw.Nodes {
		c, err := client.New(nd.HTTP, client.WithBillingToken(nd.BillingToken), client.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		run.clients = append(run.clients, c)
	}
	info, err := run.clients[0].Info(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The clients and the nemesis run for faultFor.
	loadCtx, stopLoad := context.WithTimeout(ctx, faultFor)
	defer stopLoad()
	var wg sync.WaitGroup
	const workers = 4
	for w := range workers {
		wg.Go(func() { run.worker(loadCtx, w) })
	}
	nem := &nemesis{nw: nw, rng: rand.New(rand.NewPCG(seed, 0x6e656d65)), clients: run.clients, start: run.hist.start}
	nem.run(loadCtx, ctx)
	wg.Wait()
	t.Logf("faults injected (%d): %s", len(nem.log), strings.Join(nem.log, "; "))
	if nem.err != nil {
		t.Fatalf("nemesis: %v\n%s", nem.err, tail(stderr.String(), 40))
	}

	// Healed: every node up, every paid file stored everywhere and intact.
	healedAt := time.Now()
	for i, c := range run.clients {
		if err := waitUp(ctx, c, 90*time.Second); err != nil {
			t.Fatalf("node%d not up after the faults: %v\n%s", i, err, tail(stderr.String(), 40))
		}
	}
	run.diagnose = func(id string) string {
		var lines []string
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(l, id) || strings.Contains(l, "request failed") {
				lines = append(lines, l)
			}
		}
		names := map[string]string{}
		for _, nd := range nw.Nodes {
			names[nd.PeerID] = nd.Name
		}
		var holders []string
		if f, err := run.clients[0].File(ctx, id); err == nil {
			for _, h := range f.Replicas {
				holders = append(holders, names[h])
			}
		}
		return fmt.Sprintf("holders %v; what the daemons said:\n%s", holders, tail(strings.Join(lines, "\n"), 30))
	}
	run.checkFiles(ctx, info.Replicas)
	t.Logf("healed in %s", time.Since(healedAt).Round(100*time.Millisecond))

	// Linearizable.
	res, linfo := porcupine.CheckOperationsVerbose(ledgerModel.ToModel(), run.hist.ops, time.Minute)
	c := &run.count
	t.Logf("%d operations recorded; acknowledged: %d uploads, %d payments, %d extensions, %d reads, %d downloads; %d unanswered, %d refused, %d reads failed; %d files, linearizable: %s",
		len(run.hist.ops), c.uploads.Load(), c.payments.Load(), c.extensions.Load(), c.reads.Load(), c.downloads.Load(),
		c.unknown.Load(), c.refused.Load(), c.readFails.Load(), len(run.files), res)
	if res != porcupine.Ok {
		out := os.Getenv("DDS_FAULT_OUT")
		if out == "" {
			out = os.TempDir()
		}
		path := filepath.Join(out, fmt.Sprintf("dds-faults-%d.html", seed))
		if err := porcupine.VisualizePath(ledgerModel.ToModel(), linfo, path); err != nil {
			t.Logf("visualize: %v", err)
		}
		t.Errorf("the history is not linearizable (%s): see %s\n%s", res, path, illegalFiles(run.hist.ops, 3))
	}
}

// worker is one client: it uploads, pays (now and then at two nodes at
// once), extends and reads, at nodes chosen at random, until ctx ends.
func (r *faultRun) worker(ctx context.Context, w int) {
	rng := rand.New(rand.NewPCG(r.seed, uint64(w)+1))
	for n := 0; ctx.Err() == nil; n++ {
		size := 1<<10 + rng.IntN(96<<10)
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		f := r.upload(ctx, rng, w, data, fmt.Sprintf("w%d-%d.bin", w, n))
		if f == nil {
			continue
		}
		r.payUntilAnswered(ctx, rng, w, f, rng.IntN(3) == 0)
		if rng.IntN(2) == 0 {
			r.info(ctx, rng.IntN(len(r.clients)), 2*w, f)
		}
		if f.paid.Load() && rng.IntN(3) == 0 {
			if r.extend(ctx, rng, w, f) {
				r.payUntilAnswered(ctx, rng, w, f, false)
			}
		}
		if rng.IntN(3) == 0 {
			r.download(ctx, rng, r.pickPaid(rng))
		}
	}
}

func (r *faultRun) upload(ctx context.Context, rng *rand.Rand, w int, data []byte, name string) *faultFile {
	node := rng.IntN(len(r.clients))
	const term = 3600
	call := r.hist.now()
	octx, cancel := context.WithTimeout(ctx, faultOpTimeout)
	defer cancel()
	got, err := r.clients[node].Upload(octx, bytes.NewReader(data), client.UploadOptions{Name: name, Size: int64(len(data)), Duration: term})
	if err != nil {
		// An upload with no answer leaves at most a quote nobody pays.
		r.count.refused.Add(1)
		return nil
	}
	r.count.uploads.Add(1)
	f := &faultFile{id: got.ID, sum: sha256.Sum256(data), size: len(data)}
	r.hist.add(2*w, fileOp{Kind: opUpload, File: f.id, Node: node, Duration: term}, call, fileResult{Out: outQuoted})
	r.mu.Lock()
	r.files = append(r.files, f)
	r.mu.Unlock()
	return f
}

// payUntilAnswered pays f's open quote at a node chosen at random until an
// answer says it is paid, each attempt with an Idempotency-Key of its own;
// rival also pays it at the same time at another node.
func (r *faultRun) payUntilAnswered(ctx context.Context, rng *rand.Rand, w int, f *faultFile, rival bool) {
	price, ok := r.openPrice(ctx, rng, w, f)
	if !ok {
		return
	}
	var wg sync.WaitGroup
	if rival {
		node := rng.IntN(len(r.clients))
		wg.Go(func() { r.pay(ctx, node, 2*w+1, f, price) })
	}
	for ctx.Err() == nil {
		out := r.pay(ctx, rng.IntN(len(r.clients)), 2*w, f, price)
		if out == outPaid || out == outAlreadyPaid || out == outOther {
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	wg.Wait()
}

// openPrice is the price of f's open quote, read from a node.
func (r *faultRun) openPrice(ctx context.Context, rng *rand.Rand, w int, f *faultFile) (api.Tokens, bool) {
	for ctx.Err() == nil {
		got, ok := r.info(ctx, rng.IntN(len(r.clients)), 2*w, f)
		if ok {
			switch got.State {
			case "quoted", "extension_quoted":
				return got.Price, true
			default:
				return 0, false // paid meanwhile
			}
		}
		sleep(ctx, 200*time.Millisecond)
	}
	return 0, false
}

func (r *faultRun) pay(ctx context.Context, node, cl int, f *faultFile, price api.Tokens) outcome {
	call := r.hist.now()
	octx, cancel := context.WithTimeout(ctx, faultOpTimeout)
	defer cancel()
	p, err := r.clients[node].Pay(octx, f.id, api.PaymentSuccess, price, uuid.NewString())
	res := classify(err)
	if err == nil {
		res = fileResult{Out: outPaid, PaymentID: p.ID}
		r.count.payments.Add(1)
	}
	if res.Out == outPaid || res.Out == outAlreadyPaid {
		f.paid.Store(true)
	}
	r.record(cl, fileOp{Kind: opPay, File: f.id, Node: node}, call, res)
	return res.Out
}

// extend asks for a term an hour longer at a node chosen at random,
// until an answer comes; it reports whether an extension quote is open.
func (r *faultRun) extend(ctx context.Context, rng *rand.Rand, w int, f *faultFile) bool {
	cur, ok := r.info(ctx, rng.IntN(len(r.clients)), 2*w, f)
	if !ok || (cur.State != "storing" && cur.State != "stored") {
		return false
	}
	term := cur.Duration + 3600
	for ctx.Err() == nil {
		node := rng.IntN(len(r.clients))
		call := r.hist.now()
		octx, cancel := context.WithTimeout(ctx, faultOpTimeout)
		_, err := r.clients[node].Extend(octx, f.id, term)
		cancel()
		res := classify(err)
		if err == nil {
			res = fileResult{Out: outQuoted}
			r.count.extensions.Add(1)
		}
		r.record(2*w, fileOp{Kind: opExtend, File: f.id, Node: node, Duration: term}, call, res)
		switch res.Out {
		case outQuoted:
			return true
		case outConflict:
			return true // the attempt before this one opened it, or another is open: pay what is open
		case outUnknown:
			sleep(ctx, 200*time.Millisecond)
		default:
			return false
		}
	}
	return false
}

// record adds a write to the history, counting those left unanswered.
func (r *faultRun) record(cl int, in fileOp, call int64, res fileResult) {
	if res.Out == outUnknown {
		r.count.unknown.Add(1)
	}
	r.hist.add(cl, in, call, res)
}

// info reads f's resource at node and records what it showed.
func (r *faultRun) info(ctx context.Context, node, cl int, f *faultFile) (*client.File, bool) {
	call := r.hist.now()
	octx, cancel := context.WithTimeout(ctx, faultOpTimeout)
	defer cancel()
	got, err := r.clients[node].File(octx, f.id)
	if err != nil {
		// A read with no answer constrains nothing; a read answered
		// wrongly (a 404 for a file the network has) is recorded.
		var ae *client.Error
		if errors.As(err, &ae) && ae.Status < 500 {
			r.hist.add(cl, fileOp{Kind: opInfo, File: f.id, Node: node}, call, fileResult{Out: outOther, Detail: err.Error()})
		}
		r.count.readFails.Add(1)
		return nil, false
	}
	r.count.reads.Add(1)
	r.hist.add(cl, fileOp{Kind: opInfo, File: f.id, Node: node}, call, fileResult{Out: outState, State: got.State, Duration: got.Duration})
	return got, true
}

// download reads f at a node chosen at random: during faults it may fail,
// but never with other bytes than f's.
func (r *faultRun) download(ctx context.Context, rng *rand.Rand, f *faultFile) {
	if f == nil {
		return
	}
	node := rng.IntN(len(r.clients))
	octx, cancel := context.WithTimeout(ctx, faultOpTimeout)
	defer cancel()
	sum, n, err := r.fetch(octx, node, f)
	if err != nil {
		r.count.readFails.Add(1)
		return
	}
	if sum != f.sum || n != f.size {
		r.t.Errorf("node%d served file %s with other bytes: %d bytes, sha256 %x (want %d, %x)", node, f.id, n, sum, f.size, f.sum)
		return
	}
	r.count.downloads.Add(1)
}

// fetch downloads f from node and hashes what came.
func (r *faultRun) fetch(ctx context.Context, node int, f *faultFile) ([32]byte, int, error) {
	body, _, err := r.clients[node].Download(ctx, f.id, 0, -1)
	if err != nil {
		return [32]byte{}, 0, err
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.Copy(h, body)
	if err != nil {
		return [32]byte{}, 0, err
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, int(n), nil
}

func (r *faultRun) pickPaid(rng *rand.Rand) *faultFile {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range 8 {
		if len(r.files) == 0 {
			return nil
		}
		if f := r.files[rng.IntN(len(r.files))]; f.paid.Load() {
			return f
		}
	}
	return nil
}

// classify turns a request's error into the model's outcome.
func classify(err error) fileResult {
	if err == nil {
		return fileResult{}
	}
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status >= 500 {
		return fileResult{Out: outUnknown, Detail: err.Error()}
	}
	switch ae.Code() {
	case "alreadyPaid":
		return fileResult{Out: outAlreadyPaid}
	case "conflict":
		return fileResult{Out: outConflict, Detail: err.Error()}
	}
	return fileResult{Out: outOther, Detail: err.Error()}
}

// checkFiles waits until every file a payment was acknowledged for (or
// that any node shows paid) is stored with its holders, the same on every
// node, and downloads intact from every node; each final read joins the
// history.
func (r *faultRun) checkFiles(ctx context.Context, replicas int) {
	t := r.t
	deadline := time.Now().Add(2 * time.Minute)
	var stored, quoted, retried int
	for _, f := range r.files {
		var first *client.File
		for node, c := range r.clients {
			var got *client.File
			for {
				call := r.hist.now()
				g, err := c.File(ctx, f.id)
				if err == nil {
					got = g
					r.hist.add(100+node, fileOp{Kind: opInfo, File: f.id, Node: node}, call, fileResult{Out: outState, State: g.State, Duration: g.Duration})
					// Paid (stored, or with an extension quoted): all
					// its holders; never paid: quoted.
					if g.State == "quoted" || ((g.State == "stored" || g.State == "extension_quoted") && len(g.Replicas) == replicas) {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("file %s at node%d: not stored with %d holders 2 min after the faults: %+v %v", f.id, node, replicas, g, err)
				}
				sleep(ctx, 250*time.Millisecond)
			}
			if first == nil {
				first = got
				continue
			}
			if got.State != first.State || !slices.Equal(sorted(got.Replicas), sorted(first.Replicas)) || !equalTime(got.ExpiresAt, first.ExpiresAt) || got.Price != first.Price {
				t.Errorf("file %s: node0 shows %s holders %v until %v price %v, node%d %s holders %v until %v price %v",
					f.id, first.State, first.Replicas, first.ExpiresAt, first.Price, node, got.State, got.Replicas, got.ExpiresAt, got.Price)
			}
		}
		if f.paid.Load() && first.State == "quoted" {
			t.Errorf("file %s: a payment was acknowledged, the network shows it quoted", f.id)
		}
		if first.State != "stored" && first.State != "extension_quoted" {
			quoted++
			continue
		}
		stored++
		for node := range r.clients {
			// A node may still take a holder it could not reach during
			// the faults for a live one: a failed download is tried
			// again for a while, and counted.
			for try := 0; ; try++ {
				sum, n, err := r.fetch(ctx, node, f)
				if err == nil && (sum != f.sum || n != f.size) {
					t.Errorf("file %s from node%d after the faults: %d bytes, sha256 %x (want %d bytes, %x)", f.id, node, n, sum, f.size, f.sum)
				}
				if err == nil {
					break
				}
				if try == 0 {
					retried++
					t.Logf("file %s from node%d after the faults: %v; trying again", f.id, node, err)
				}
				if time.Now().After(deadline) {
					t.Errorf("file %s from node%d after the faults: %v\n%s", f.id, node, err, r.diagnose(f.id))
					break
				}
				sleep(ctx, 250*time.Millisecond)
			}
		}
	}
	t.Logf("%d files stored with %d holders, the same on every node, intact from every node (%d downloads tried again); %d left unpaid", stored, replicas, retried, quoted)
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// waitUp waits until c's node says it is up.
func waitUp(ctx context.Context, c *client.Client, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		st, err := c.Status(ctx)
		if err == nil && st.Status == "up" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%+v %v", st, err)
		}
		sleep(ctx, 250*time.Millisecond)
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// nemesis injects one fault at a time into a process network, at times
// and on nodes drawn from its seeded rng, and heals each before the next.
type nemesis struct {
	nw      *ProcessNetwork
	rng     *rand.Rand
	clients []*client.Client
	start   time.Time
	log     []string
	err     error
}

// run injects faults until load ends; ctx bounds the restarts.
func (nm *nemesis) run(load, ctx context.Context) {
	sleep(load, 2*time.Second)
	for load.Err() == nil && nm.err == nil {
		i := nm.rng.IntN(len(nm.nw.Nodes))
		hold := time.Duration(1000+nm.rng.IntN(3000)) * time.Millisecond
		switch nm.rng.IntN(4) {
		case 0:
			nm.killRestart(ctx, i, hold, "kill")
		case 1:
			if l := nm.leader(ctx); l >= 0 {
				nm.killRestart(ctx, l, hold, "kill the leader")
			}
		case 2:
			nm.note("pause node%d for 5 s", i)
			nm.must(nm.nw.Pause(i))
			sleep(ctx, 5*time.Second)
			nm.must(nm.nw.Resume(i))
		case 3:
			nm.note("partition node%d for 5 s", i)
			nm.must(nm.nw.Nodes[i].cmd.Process.Signal(syscall.SIGUSR1))
			sleep(ctx, 5*time.Second)
			nm.must(nm.nw.Nodes[i].cmd.Process.Signal(syscall.SIGUSR2))
		}
		sleep(load, time.Duration(1000+nm.rng.IntN(2000))*time.Millisecond)
	}
}

func (nm *nemesis) killRestart(ctx context.Context, i int, down time.Duration, what string) {
	nm.note("%s (node%d), %s down", what, i, down)
	nm.must(nm.nw.Kill(i))
	sleep(ctx, down)
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := nm.nw.Restart(rctx, i); err != nil {
		nm.must(fmt.Errorf("restart node%d: %w", i, err))
	}
}

// leader is the index of the node the others name as leader, or -1.
func (nm *nemesis) leader(ctx context.Context) int {
	for _, c := range nm.clients {
		octx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := c.Status(octx)
		cancel()
		if err != nil || st.Leader == "" {
			continue
		}
		for i, nd := range nm.nw.Nodes {
			if nd.PeerID == st.Leader {
				return i
			}
		}
	}
	return -1
}

func (nm *nemesis) note(format string, args ...any) {
	nm.log = append(nm.log, fmt.Sprintf("%.1fs ", time.Since(nm.start).Seconds())+fmt.Sprintf(format, args...))
}

func (nm *nemesis) must(err error) {
	if err != nil && nm.err == nil {
		nm.err = err
	}
}

// illegalFiles describes the operations of up to max files whose history
// alone is not linearizable.
func illegalFiles(ops []porcupine.Operation, max int) string {
	m := ledgerModel.ToModel()
	var b strings.Builder
	for _, part := range ledgerModel.Partition(ops) {
		if max == 0 {
			break
		}
		if porcupine.CheckOperations(m, part) {
			continue
		}
		max--
		part = slices.Clone(part)
		slices.SortFunc(part, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
		fmt.Fprintf(&b, "file %s:\n", part[0].Input.(fileOp).File)
		for _, op := range part {
			ret := "never"
			if op.Return != never {
				ret = fmt.Sprintf("%.3fs", float64(op.Return)/1e9)
			}
			fmt.Fprintf(&b, "  %.3fs-%s client %d: %s\n", float64(op.Call)/1e9, ret, op.ClientId, m.DescribeOperation(op.Input, op.Output))
		}
	}
	return b.String()
}
