package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/testnet"
)

// These tests run the real `dds daemon` as a separate process, so they can
// kill it with SIGKILL at awkward moments and restart it on the same data dir.

var (
	buildOnce sync.Once
	binDir    string // removed by TestMain
	binPath   string
	buildErr  error
)

// ddsBinary builds cmd/dds once per test binary.
func ddsBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dds-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir, binPath = dir, filepath.Join(dir, "dds")
		// With the commit set as release builds set it, for TestVersionOfBuiltBinary.
		out, err := exec.Command("go", "build", "-ldflags", "-X main.commit="+builtCommit, "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// daemon is a running `dds daemon --dev` process.
type daemon struct {
	t       testing.TB
	cmd     *exec.Cmd
	url     string
	dataDir string
	done    chan error
	stderr  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startNetwork starts n `dds daemon` processes (testnet.StartProcesses,
// logging warnings only) that the test's cleanup stops; stderr holds
// their logs, for failure messages.
func startNetwork(ctx context.Context, t testing.TB, n int) (*testnet.ProcessNetwork, *lockedBuffer) {
	t.Helper()
	stderr := &lockedBuffer{}
	nw, err := testnet.StartProcesses(ctx, networkOptions(t, n, t.TempDir(), stderr))
	if err != nil {
		t.Fatalf("start the network: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { nw.Stop() })
	return nw, stderr
}

// networkOptions are the options of a test's network of n daemons in dir,
// logging warnings only, to stderr.
func networkOptions(t testing.TB, n int, dir string, stderr io.Writer) testnet.ProcessOptions {
	return testnet.ProcessOptions{Binary: ddsBinary(t), Nodes: n, Dir: dir, Stderr: stderr, ExtraArgs: []string{"--log-level", "warn"}}
}

// cleanEnv is this process's environment without the dds variables a
// user may have set in the shell that runs the tests (the README exports
// DDS_BILLING_TOKEN), which the processes the tests start would take up,
// and with extra (NAME=value) added.
func cleanEnv(extra ...string) []string {
	env := append(os.Environ(), "DDS_NODE=", "DDS_CONFIG=", "DDS_BILLING_TOKEN=", "DDS_INVITE=", "DDS_ADMISSION_KEY=")
	return append(env, extra...)
}

// startDaemon starts a --dev daemon on free loopback ports and waits until
// it serves.
func startDaemon(t testing.TB, dataDir string, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"daemon", "--dev", "--data-dir", dataDir,
		"--http-addr", "127.0.0.1:0", "--p2p-addr", "/ip4/127.0.0.1/tcp/0", "--log-level", "warn"}, extra...)
	cmd := exec.Command(ddsBinary(t), args...)
	cmd.Env = cleanEnv()
	// The daemon dies with the test binary, even when a timeout kills it
	// before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	d := &daemon{t: t, cmd: cmd, dataDir: dataDir, done: make(chan error, 1), stderr: &lockedBuffer{}}
	cmd.Stderr = io.MultiWriter(pw, d.stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() { d.kill() })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "dds: serving "); ok {
				urlc <- strings.TrimSpace(u)
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case d.url = <-urlc:
	case err := <-d.done:
		t.Fatalf("daemon exited before serving: %v\n%s", err, d.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("daemon did not serve within 60 s\n%s", d.stderr)
	}
	return d
}

func (d *daemon) client(t testing.TB) *client.Client {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(d.dataDir, "billing.token"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(d.url, client.WithBillingToken(strings.TrimSpace(string(tok))))
	if err != nil {
		t.Fatal(err)
	}
	// The client acts for an account, opened once per data dir (the key
	// kept beside it), so that it can list what it uploads.
	keyFile := d.dataDir + ".account"
	key, err := os.ReadFile(keyFile)
	if errors.Is(err, os.ErrNotExist) {
		acc, err := c.OpenAccount(t.Context(), "test", "")
		if err != nil {
			t.Fatal(err)
		}
		key = []byte(acc.APIKey)
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	c, err = client.New(d.url, client.WithBillingToken(strings.TrimSpace(string(tok))), client.WithAPIKey(string(key)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// kill sends SIGKILL and reaps the process.
func (d *daemon) kill() {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
	}
}

// stop sends SIGINT and expects a clean exit 0.
func (d *daemon) stop(t testing.TB) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("daemon exit after SIGINT: %v\n%s", err, d.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not stop within 30 s of SIGINT")
	}
}

// genReader yields n deterministic pseudo-random bytes at memory speed, so
// benchmarks measure the daemon rather than the generator: one random block
// of 1 MiB, repeated with the block's number written into its first 8 bytes,
// so every 1 MiB chunk differs (no dedup).
type genReader struct {
	block []byte
	off   int64 // bytes produced so far
	n     int64
}

const genBlock = 1 << 20

func newGen(seed byte, n int64) *genReader {
	var s [32]byte
	s[0] = seed
	block := make([]byte, genBlock)
	rand.NewChaCha8(s).Read(block)
	return &genReader{block: block, n: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n-g.off)]
	done := 0
	for done < len(p) {
		i, at := g.off/genBlock, int(g.off%genBlock)
		binary.LittleEndian.PutUint64(g.block[:8], uint64(i))
		k := copy(p[done:], g.block[at:])
		done += k
		g.off += int64(k)
	}
	return done, nil
}

func genSum(seed byte, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, newGen(seed, n))
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// putPaid uploads n generated bytes and pays the quote.
func putPaid(t testing.TB, ctx context.Context, c *client.Client, seed byte, n int64) *client.File {
	t.Helper()
	f, err := c.Upload(ctx, newGen(seed, n), client.UploadOptions{Name: fmt.Sprintf("file-%d.bin", seed), Size: n})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
		t.Fatal(err)
	}
	return f
}

func downloadSum(t testing.TB, ctx context.Context, c *client.Client, id string) [32]byte {
	t.Helper()
	body, _, err := c.Download(ctx, id, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, body); err != nil {
		t.Fatalf("download %s: %v", id, err)
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

func TestDaemonKillDuringUploadAndPayment(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	d := startDaemon(t, dir)
	c := d.client(t)

	// Files that were acknowledged before the crashes.
	const size = 3<<20 + 777
	var kept []*client.File
	for seed := byte(1); seed <= 3; seed++ {
		kept = append(kept, putPaid(t, ctx, c, seed, size))
	}
	unpaid, err := c.Upload(ctx, newGen(9, 1000), client.UploadOptions{Name: "unpaid", Size: 1000})
	if err != nil {
		t.Fatal(err)
	}

	// 1. SIGKILL in the middle of a streamed upload.
	pr, pw := io.Pipe()
	upErr := make(chan error, 1)
	go func() {
		_, err := c.Upload(ctx, pr, client.UploadOptions{Name: "half.bin", Size: -1})
		upErr <- err
	}()
	if _, err := io.CopyN(pw, newGen(7, 1<<30), 40<<20); err != nil {
		t.Fatalf("stream the first part: %v", err)
	}
	d.kill()
	pw.CloseWithError(errors.New("daemon killed"))
	if err := <-upErr; err == nil {
		t.Fatal("upload to a killed daemon succeeded")
	}

	d = startDaemon(t, dir)
	c = d.client(t)
	for i, f := range kept {
		if got, want := downloadSum(t, ctx, c, f.ID), genSum(byte(i+1), size); got != want {
			t.Fatalf("file %s changed across a kill during an upload", f.ID)
		}
	}
	files, _, err := c.Files(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(kept)+1 {
		t.Fatalf("after the kill: %d files listed, want %d (the half upload must be gone)", len(files), len(kept)+1)
	}

	// 2. SIGKILL while payments are in flight: each quote is paid at most
	// once, and a paid one reads back.
	var quotes []*client.File
	for seed := byte(20); seed < 28; seed++ {
		f, err := c.Upload(ctx, newGen(seed, 2<<20), client.UploadOptions{Name: "p", Size: 2 << 20})
		if err != nil {
			t.Fatal(err)
		}
		quotes = append(quotes, f)
	}
	var wg sync.WaitGroup
	for _, f := range quotes {
		wg.Go(func() { c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, "") })
	}
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	d.kill()
	wg.Wait()

	d = startDaemon(t, dir)
	c = d.client(t)
	for _, f := range quotes {
		info, err := c.File(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch info.State {
		case api.StateQuoted:
			// Not paid before the kill: the quote is still payable.
			if _, err := c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
				t.Fatalf("pay %s after restart: %v", f.ID, err)
			}
		case api.StateStoring, api.StateStored:
			if _, err := c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, ""); !client.IsCode(err, api.CodeAlreadyPaid) {
				t.Fatalf("second payment of %s: %v, want alreadyPaid", f.ID, err)
			}
		default:
			t.Fatalf("file %s in state %s after a kill during payment", f.ID, info.State)
		}
		info, err = c.WaitState(ctx, f.ID, nil, api.StateStored)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := downloadSum(t, ctx, c, f.ID), genSum(byte(20+indexOf(quotes, f)), 2<<20); got != want {
			t.Fatalf("paid file %s does not read back intact", f.ID)
		}
	}
	if _, err := c.Pay(ctx, unpaid.ID, api.PaymentSuccess, unpaid.Price, ""); err != nil {
		t.Fatalf("an open quote from before the kills: %v", err)
	}
	d.stop(t)
}

func indexOf(fs []*client.File, f *client.File) int {
	for i := range fs {
		if fs[i] == f {
			return i
		}
	}
	return -1
}

// memory is a process's memory as /proc/PID/status reports it, in bytes.
type memory struct{ rss, anon, file, hwm int64 }

func readMemory(pid int) memory {
	var m memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		switch name {
		case "VmRSS":
			m.rss = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		}
	}
	return m
}

// sampleMemory polls pid's memory until stop closes and returns the peaks
// of each figure (the kernel keeps only the peak of the total, VmHWM).
func sampleMemory(pid int, stop <-chan struct{}) <-chan memory {
	out := make(chan memory, 1)
	go func() {
		var peak memory
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			m := readMemory(pid)
			peak.rss, peak.anon, peak.file, peak.hwm = max(peak.rss, m.rss), max(peak.anon, m.anon), max(peak.file, m.file), max(peak.hwm, m.hwm)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// TestDaemonRoundTrip1GiB streams 1 GiB up and down through the real daemon
// and checks the content hash.
func TestDaemonRoundTrip1GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB round trip")
	}
	roundTrip(t, 1<<30)
}

// BenchmarkDaemonRoundTrip measures HTTP streamed ingest and download of a
// large file through a --dev daemon, and the daemon's RSS.
func BenchmarkDaemonRoundTrip(b *testing.B) {
	size := int64(1 << 30)
	if s := os.Getenv("DDS_BENCH_SIZE"); s != "" {
		size, _ = strconv.ParseInt(s, 10, 64)
	}
	for b.Loop() {
		roundTrip(b, size)
	}
}

func roundTrip(t testing.TB, size int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	d := startDaemon(t, dir)
	c := d.client(t)
	time.Sleep(500 * time.Millisecond)
	idle := readMemory(d.cmd.Process.Pid)
	stop := make(chan struct{})
	peaks := sampleMemory(d.cmd.Process.Pid, stop)

	start := time.Now()
	f, err := c.Upload(ctx, newGen(42, size), client.UploadOptions{Name: "big.bin", Size: size})
	if err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	if _, err := c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	body, _, err := c.Download(ctx, f.ID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := io.Copy(io.Discard, body); err != nil || k != size {
		t.Fatalf("download: %d bytes, %v", k, err)
	}
	body.Close()
	down := time.Since(start)
	if got := downloadSum(t, ctx, c, f.ID); got != genSum(42, size) {
		t.Fatal("downloaded bytes differ from the uploaded ones")
	}
	close(stop)
	peak := <-peaks
	mb := float64(size) / 1e6
	t.Logf("size %d MiB: ingest %.0f MB/s, download %.0f MB/s; daemon idle RSS %d MiB; peak RSS %d MiB (VmHWM %d MiB, anon %d MiB, file-backed %d MiB)",
		size>>20, mb/up.Seconds(), mb/down.Seconds(), idle.rss>>20, peak.rss>>20, peak.hwm>>20, peak.anon>>20, peak.file>>20)
	if b, ok := t.(*testing.B); ok {
		b.ReportMetric(mb/up.Seconds(), "ingest-MB/s")
		b.ReportMetric(mb/down.Seconds(), "download-MB/s")
		b.ReportMetric(float64(peak.hwm>>20), "peak-RSS-MiB")
		b.ReportMetric(float64(peak.anon>>20), "peak-anon-MiB")
		b.ReportMetric(float64(idle.rss>>20), "idle-RSS-MiB")
	}
	d.stop(t)
}

// TestDaemonRestartKeepsIdempotencyKeys restarts the daemon cleanly and
// replays keyed requests: the first answers come back, nothing is done twice.
func TestDaemonRestartKeepsIdempotencyKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	d := startDaemon(t, dir)
	c := d.client(t)
	up := client.UploadOptions{Name: "keyed.bin", Size: 5000, IdempotencyKey: "upload-1"}
	f, err := c.Upload(ctx, newGen(1, 5000), up)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, "pay-1")
	if err != nil {
		t.Fatal(err)
	}
	d.stop(t)

	d = startDaemon(t, dir)
	c = d.client(t)
	again, err := c.Upload(ctx, newGen(1, 5000), up)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != f.ID {
		t.Fatalf("replayed upload made file %s, want the first answer's %s", again.ID, f.ID)
	}
	if _, err := c.Upload(ctx, newGen(2, 5000), up); !client.IsCode(err, api.CodeIdempotencyKeyReused) {
		t.Fatalf("same key, other bytes: %v, want idempotencyKeyReused", err)
	}
	p2, err := c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, "pay-1")
	if err != nil {
		t.Fatal(err)
	}
	if p2.ID != p.ID {
		t.Fatalf("replayed payment answered %s, want the first payment %s", p2.ID, p.ID)
	}
	if _, err := c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, ""); !client.IsCode(err, api.CodeAlreadyPaid) {
		t.Fatalf("a new payment of a paid quote: %v, want alreadyPaid", err)
	}
	files, _, err := c.Files(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("%d files after replays, want 1", len(files))
	}
	d.stop(t)
}

// TestTestnetCommand runs `dds testnet --nodes 4` as a user would: the
// table, testnet.json as spec/cli.md describes it, a network that quotes,
// and no dds process left after SIGINT (nor after SIGKILL of the testnet).
func TestTestnetCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(ddsBinary(t), "testnet", "--nodes", "4", "--dir", dir)
			cmd.Env = cleanEnv()
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			var stdout bytes.Buffer
			stderr := &lockedBuffer{}
			cmd.Stdout, cmd.Stderr = &stdout, stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-done
			})
			deadline := time.Now().Add(90 * time.Second)
			for !strings.Contains(stderr.String(), "dds: testnet up") {
				if time.Now().After(deadline) {
					t.Fatalf("testnet not up in 90 s:\n%s", stderr)
				}
				time.Sleep(50 * time.Millisecond)
			}
			var tn struct {
				Nodes []struct {
					Name         string   `json:"name"`
					PeerID       string   `json:"peer_id"`
					HTTP         string   `json:"http"`
					S3           string   `json:"s3"`
					P2P          []string `json:"p2p"`
					PID          int      `json:"pid"`
					DataDir      string   `json:"data_dir"`
					BillingToken string   `json:"billing_token"`
				} `json:"nodes"`
			}
			b, err := os.ReadFile(filepath.Join(dir, "testnet.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &tn); err != nil {
				t.Fatal(err)
			}
			if len(tn.Nodes) != 4 {
				t.Fatalf("testnet.json has %d nodes", len(tn.Nodes))
			}
			for i, n := range tn.Nodes {
				if n.Name != fmt.Sprintf("node%d", i) || !strings.HasPrefix(n.PeerID, "12D3Koo") || !strings.HasPrefix(n.HTTP, "http://127.0.0.1:") ||
					len(n.P2P) == 0 || !strings.HasSuffix(n.P2P[0], "/p2p/"+n.PeerID) || n.PID <= 0 || n.DataDir == "" || n.BillingToken == "" {
					t.Fatalf("testnet.json node %d: %+v", i, n)
				}
				if !strings.Contains(stdout.String(), n.PeerID) {
					t.Fatalf("the table does not list %s:\n%s", n.PeerID, stdout.String())
				}
				if !strings.HasPrefix(n.S3, "http://127.0.0.1:") || n.S3 == n.HTTP || !strings.Contains(stdout.String(), n.S3) {
					t.Fatalf("node %d's S3 gateway %q, not in testnet.json or the table:\n%s", i, n.S3, stdout.String())
				}
			}
			// The network quotes: node0's upload is attested by the three others.
			c, err := client.New(tn.Nodes[0].HTTP)
			if err != nil {
				t.Fatal(err)
			}
			f, err := c.Upload(t.Context(), strings.NewReader("hello network"), client.UploadOptions{Name: "h.txt", Size: 13})
			if err != nil {
				t.Fatal(err)
			}
			if len(f.AttestedBy) != 3 {
				t.Fatalf("attested_by %v", f.AttestedBy)
			}

			cmd.Process.Signal(sig)
			select {
			case err := <-done:
				done <- err
				if sig == syscall.SIGINT && err != nil {
					t.Fatalf("testnet exit after SIGINT: %v\n%s", err, stderr)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("testnet still running 60 s after %s", sig)
			}
			for _, n := range tn.Nodes {
				gone := false
				for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
					if err := syscall.Kill(n.PID, 0); errors.Is(err, syscall.ESRCH) {
						gone = true
						break
					}
				}
				if !gone {
					syscall.Kill(n.PID, syscall.SIGKILL)
					t.Fatalf("%s (pid %d) outlived the testnet after %s", n.Name, n.PID, sig)
				}
			}
		})
	}
}

// A network stopped and started again on its directory comes back whole:
// the same nodes at the same URLs, with what they stored; one started
// with fewer nodes than it had is refused at once.
func TestTestnetStartsAgainOnItsDir(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	stderr := &lockedBuffer{}
	opts := networkOptions(t, 4, t.TempDir(), stderr)
	first, err := testnet.StartProcesses(ctx, opts)
	if err != nil {
		t.Fatalf("start the network: %v\n%s", err, stderr)
	}
	c, err := client.New(first.Nodes[1].HTTP)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Upload(ctx, strings.NewReader("kept across a restart"), client.UploadOptions{Name: "k.txt", Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	short := opts
	short.Nodes = 3
	if _, err := testnet.StartProcesses(ctx, short); err == nil || !strings.Contains(err.Error(), "at least 4") {
		t.Fatalf("started a 4-node network's directory with 3 nodes: %v", err)
	}
	again, err := testnet.StartProcesses(ctx, opts)
	if err != nil {
		t.Fatalf("start the network again: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { again.Stop() })
	for i, n := range again.Nodes {
		if n.PeerID != first.Nodes[i].PeerID || n.HTTP != first.Nodes[i].HTTP || n.S3 != first.Nodes[i].S3 || n.BillingToken != first.Nodes[i].BillingToken {
			t.Fatalf("node %d came back as %s at %s (S3 %s), was %s at %s (S3 %s)", i, n.PeerID, n.HTTP, n.S3, first.Nodes[i].PeerID, first.Nodes[i].HTTP, first.Nodes[i].S3)
		}
	}
	c2, err := client.New(again.Nodes[2].HTTP)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c2.File(ctx, f.ID)
	if err != nil || got.CID != f.CID || len(got.AttestedBy) != 3 {
		t.Fatalf("the file quoted before the restart, at node2: %+v, %v", got, err)
	}
	// And it still quotes.
	if _, err := c2.Upload(ctx, strings.NewReader("after"), client.UploadOptions{Name: "a.txt", Size: -1}); err != nil {
		t.Fatalf("upload after the restart: %v\n%s", err, stderr)
	}
	// A normal restart warns of nothing: members need no join.
	if strings.Contains(stderr.String(), "join") {
		t.Errorf("a warning about joining on a normal restart:\n%s", stderr)
	}
}

// dds testnet logs each daemon to its own file as JSON lines, at the level
// DDS_LOG_LEVEL asks, prints how to use the network from a shell, and
// reports a daemon that dies at once (which, how, the end of its log) and
// starts it again, up to --restarts times.
func TestTestnetWatchesItsDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := t.TempDir()
	cmd := exec.Command(ddsBinary(t), "testnet", "--nodes", "4", "--dir", dir, "--restarts", "1")
	cmd.Env = cleanEnv("DDS_LOG_LEVEL=debug")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	waitFor := func(what string, d time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(d); !strings.Contains(stderr.String(), what); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in %s:\n%s", what, d, stderr)
			}
		}
	}
	waitFor("dds: testnet up", 90*time.Second)
	type tnode struct {
		Name    string `json:"name"`
		HTTP    string `json:"http"`
		PID     int    `json:"pid"`
		DataDir string `json:"data_dir"`
	}
	readNodes := func() []tnode {
		t.Helper()
		var tn struct{ Nodes []tnode }
		b, err := os.ReadFile(filepath.Join(dir, "testnet.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &tn); err != nil {
			t.Fatal(err)
		}
		return tn.Nodes
	}
	nodes := readNodes()

	want := "export DDS_NODE=" + nodes[0].HTTP + " DDS_BILLING_TOKEN=$(cat " + filepath.Join(dir, "node0", "billing.token") + ")"
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("no %q in the output:\n%s", want, stdout)
	}
	for _, n := range nodes {
		log := filepath.Join(n.DataDir, "daemon.log")
		if !strings.Contains(stdout.String(), log) {
			t.Errorf("the output does not say where %s logs (%s):\n%s", n.Name, log, stdout)
		}
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"level":"DEBUG"`) {
			t.Errorf("%s: no debug lines:\n%s", log, b)
		}
		for line := range strings.Lines(string(b)) {
			if !json.Valid([]byte(line)) {
				t.Errorf("%s: not a JSON line: %q", log, line)
			}
		}
		// The level DDS_LOG_LEVEL asked for, not a hard-coded one.
		cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n.PID))
		if err != nil || !strings.Contains(string(cl), "\x00--log-level\x00debug") {
			t.Errorf("%s runs with %q, %v; want --log-level debug", n.Name, strings.ReplaceAll(string(cl), "\x00", " "), err)
		}
	}
	if strings.Contains(stderr.String(), "node0: ") {
		t.Errorf("daemon log lines on the testnet's stderr:\n%s", stderr)
	}

	// Killed: reported at once and started again, with its URL.
	if err := syscall.Kill(nodes[1].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(fmt.Sprintf("dds: node1 (pid %d) died: signal: killed; the end of %s:", nodes[1].PID, filepath.Join(nodes[1].DataDir, "daemon.log")), 10*time.Second)
	waitFor("dds: node1 started again (pid ", 2*time.Minute)
	again := readNodes()[1]
	if again.PID == nodes[1].PID || again.HTTP != nodes[1].HTTP {
		t.Fatalf("node1 after its restart: %+v, was %+v", again, nodes[1])
	}
	c, err := client.New(again.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Info(t.Context()); err != nil {
		t.Fatalf("node1 after its restart: %v", err)
	}
	// Killed once more than --restarts allows: reported, left dead.
	if err := syscall.Kill(again.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(fmt.Sprintf("dds: node1 (pid %d) died: signal: killed", again.PID), 10*time.Second)
	waitFor("dds: not starting node1 again (started again 1 times, --restarts 1)", 10*time.Second)

	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		done <- err
	case <-time.After(60 * time.Second):
		t.Fatalf("testnet still running 60 s after SIGINT:\n%s", stderr)
	}
	for _, n := range readNodes() {
		if err := syscall.Kill(n.PID, 0); !errors.Is(err, syscall.ESRCH) {
			syscall.Kill(n.PID, syscall.SIGKILL)
			t.Errorf("%s (pid %d) outlived the testnet", n.Name, n.PID)
		}
	}
}
