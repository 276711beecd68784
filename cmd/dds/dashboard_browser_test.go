package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

// The dashboard's browser tests: a real headless Chromium (Debian's
// package chromium, which .ci/run installs) drives the page of a node of
// a network of four `dds daemon` processes.

// chromiumPath finds a Chromium to drive: $DDS_CHROMIUM, else the usual
// names on the PATH. Without one the test skips, except in CI (CI set),
// where the browser tests must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DDS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal("CI is set and no Chromium was found (apt-get install -y chromium, or set DDS_CHROMIUM): the dashboard's browser tests must run in CI")
	}
	t.Skip("no Chromium found (apt-get install -y chromium, or set DDS_CHROMIUM): the dashboard's browser tests skip")
	return ""
}

// browser is a headless Chromium tab whose console messages are kept.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

// newBrowser starts Chromium for t (stopped, and its profile dir removed,
// when t ends).
func newBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts, chromedp.ExecPath(path), chromedp.WindowSize(1440, 1100),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium's sandbox needs user namespaces, which root in a
		// container often lacks; the page is our own.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{ctx: tabCtx}
	messages := chromedp.Console(tabCtx) // subscribes now: nothing the page writes is lost
	var reader sync.WaitGroup
	reader.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to end
		reader.Wait()
	})
	return b
}

// problems are the console errors and uncaught exceptions so far.
func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.messages {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			out = append(out, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
		}
	}
	return out
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) (T, error) {
	return chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
}

// waitPage evaluates expr until it is true, for at most within.
func waitPage(t *testing.T, b *browser, within time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		var ok bool
		if ok, err = eval[bool](b, expr); err == nil && ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	rows, _ := eval[[]string](b, `Array.from(document.querySelectorAll('#members tbody tr')).map(r => r.dataset.peer + ' reachable=' + r.dataset.reachable)`)
	t.Fatalf("%s: not within %v (last error %v); members shown: %q; console problems: %q", what, within, err, rows, b.problems())
}

// screenshot writes a PNG of the whole page to $DDS_SCREENSHOT_DIR (else a
// temp dir of the test) and says where.
func screenshot(t *testing.T, b *browser, name string) string {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	dir, kept := os.Getenv("DDS_SCREENSHOT_DIR"), " (kept)"
	if dir == "" {
		dir, kept = t.TempDir(), " (removed when the test ends: set DDS_SCREENSHOT_DIR=DIR to keep it)"
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the dashboard: %s, %d bytes%s", path, len(png), kept)
	return path
}

// TestDashboardInBrowser opens node0's dashboard in Chromium: the page
// loads with no console error or uncaught exception, shows the four
// members reachable (members) and, with an account's key, that account's
// file (files); a PNG of it is written (screenshot: to $DDS_SCREENSHOT_DIR,
// else a temp dir, logged); after node3 is killed, the page shows it
// unreachable within the peer timeout (15 s) and a margin (node_down).
// The subtests share one network and run in this order; one can be run
// alone (-run TestDashboardInBrowser/screenshot).
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four daemons and a browser: not in -short")
	}
	chromiumPath(t) // skip before starting a network when there is no browser
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	nw, stderr := startNetwork(ctx, t, 4)
	n0 := nw.Nodes[0]

	// An account with one paid file, for the page's files table.
	billingClient, err := client.New(n0.HTTP, client.WithBillingToken(n0.BillingToken))
	if err != nil {
		t.Fatal(err)
	}
	acct, err := billingClient.OpenAccount(ctx, "browser", "")
	if err != nil {
		t.Fatalf("open account: %v\n%s", err, stderr)
	}
	owner, err := client.New(n0.HTTP, client.WithAPIKey(acct.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("seen in a browser "), 20000)
	f, err := owner.Upload(ctx, bytes.NewReader(data), client.UploadOptions{Name: "shown.bin", Size: int64(len(data))})
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, stderr)
	}
	if _, err := billingClient.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
		t.Fatalf("pay: %v\n%s", err, stderr)
	}
	if _, err := billingClient.WaitState(ctx, f.ID, nil, api.StateStored); err != nil {
		t.Fatalf("wait stored: %v\n%s", err, stderr)
	}

	b := newBrowser(t, ctx)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(n0.HTTP+"/?interval=500")); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	if title, err := chromedp.Run(b.ctx, chromedp.Title()); err != nil || title != "dds network" {
		t.Errorf("title %q, %v", title, err)
	}

	var ids []string
	for _, nd := range nw.Nodes {
		ids = append(ids, fmt.Sprintf("%q", nd.PeerID))
	}
	allShown := fmt.Sprintf(`(() => {
		const want = [%s];
		const rows = Array.from(document.querySelectorAll('#members tbody tr'));
		return rows.length === 4 && want.every(id => rows.some(r => r.dataset.peer === id && r.dataset.reachable === 'true'));
	})()`, strings.Join(ids, ","))

	t.Run("members", func(t *testing.T) {
		waitPage(t, b, 30*time.Second, "the four members shown reachable", allShown)
		if got, err := eval[string](b, `document.querySelector('#members-summary').textContent`); err != nil || got != "4 of 4 members reachable" {
			t.Errorf("members summary %q, %v", got, err)
		}
		if got, err := eval[string](b, `document.querySelector('#self-id').title`); err != nil || got != n0.PeerID {
			t.Errorf("the page says it is node %q (%v), want node0 %s", got, err, n0.PeerID)
		}
		if got, err := eval[int](b, `document.querySelectorAll('#node-cards .card').length`); err != nil || got < 6 {
			t.Errorf("%d cards of this node's figures (%v)", got, err)
		}
	})

	t.Run("files", func(t *testing.T) {
		// No key yet: no files, and the page says why.
		if hidden, err := eval[bool](b, `document.querySelector('#files').hidden`); err != nil || !hidden {
			t.Errorf("files table shown without a key (%v)", err)
		}
		setKey := fmt.Sprintf(`(() => {
			document.querySelector('#api-key').value = %q;
			document.querySelector('#key-form').requestSubmit();
			return true;
		})()`, acct.APIKey)
		if _, err := eval[bool](b, setKey); err != nil {
			t.Fatal(err)
		}
		waitPage(t, b, 10*time.Second, "the account's file listed", fmt.Sprintf(
			`!document.querySelector('#files').hidden && document.querySelector('#files tbody tr[data-file=%q]') !== null`, f.ID))
		row, err := eval[string](b, fmt.Sprintf(`document.querySelector('#files tbody tr[data-file=%q]').innerText`, f.ID))
		if err != nil || !strings.Contains(row, "shown.bin") || !strings.Contains(row, api.StateStored) {
			t.Errorf("file row %q (%v)", row, err)
		}
		if stored, err := eval[string](b, `localStorage.getItem('dds.apiKey')`); err != nil || stored != acct.APIKey {
			t.Errorf("the key is not kept in localStorage (%v)", err)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		waitPage(t, b, 30*time.Second, "the four members shown reachable", allShown)
		screenshot(t, b, "dashboard.png")
		if banner, err := eval[string](b, `document.querySelector('#error').hidden ? '' : document.querySelector('#error').textContent`); err != nil || banner != "" {
			t.Errorf("the page shows an error: %q (%v)", banner, err)
		}
	})
	if p := b.problems(); len(p) > 0 {
		t.Errorf("console errors or exceptions while the network is up: %q", p)
	}

	t.Run("node_down", func(t *testing.T) {
		// The page shows a killed node unreachable (the feed's peer
		// timeout is 15 s), the others still reachable.
		gone := nw.Nodes[3].PeerID
		if err := nw.Kill(3); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitPage(t, b, 45*time.Second, "the killed node shown unreachable", fmt.Sprintf(
			`document.querySelector('#members tbody tr[data-peer=%q]')?.dataset.reachable === 'false'`, gone))
		t.Logf("node3 shown unreachable %v after it was killed", time.Since(start).Round(100*time.Millisecond))
		if got, err := eval[int](b, `document.querySelectorAll('#members tbody tr[data-reachable="true"]').length`); err != nil || got != 3 {
			t.Errorf("%d members shown reachable after one of four stopped (%v)", got, err)
		}
		screenshot(t, b, "dashboard-node-down.png")
	})
	if p := b.problems(); len(p) > 0 {
		t.Errorf("console errors or exceptions: %q", p)
	}
}
