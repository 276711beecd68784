package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/internal/apitest"
)

type result struct {
	code           int
	stdout, stderr string
}

// dds runs the command line in-process against the fake node.
func dds(t *testing.T, f *apitest.Node, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	all := map[string]string{}
	if f != nil { // nil for commands that talk to no node
		all["DDS_NODE"] = f.URL()
	}
	for k, v := range env {
		all[k] = v
	}
	a := &app{
		stdin: strings.NewReader("from stdin"), stdout: &stdout, stderr: &stderr,
		getenv: envFunc(all), version: "test",
		clientOptions: []client.Option{client.WithPollInterval(time.Millisecond)},
	}
	code := a.run(t.Context(), args)
	return result{code, stdout.String(), stderr.String()}
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var idLine = regexp.MustCompile(`(?m)^id:\s+(\S+)$`)

// putID uploads data with dds put and returns the file id.
func putID(t *testing.T, f *apitest.Node, data []byte, args ...string) string {
	t.Helper()
	r := dds(t, f, nil, append([]string{"put", writeFile(t, data)}, args...)...).ok(t)
	m := idLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no id in %q", r.stdout)
	}
	return m[1]
}

func TestPut(t *testing.T) {
	f := apitest.NewNode(t)
	data := bytes.Repeat([]byte("dds"), 1000)
	path := writeFile(t, data)
	r := dds(t, f, nil, "put", path, "--duration", "48h", "--additional", `{"owner":"alice"}`).ok(t)
	for _, want := range []string{"id:", "name:", "upload.bin", "cid:", "bafk", "size:", "3000 bytes (2.9 KiB)",
		"price:", "0.000006 tokens", "state:", "quoted", "quote expires:", "2026-11-22T11:00:00Z", `{"owner":"alice"}`, "172800 s (48h0m0s)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("put output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("stderr %q (no progress bar off a terminal)", r.stderr)
	}
	f.Set(func(f *apitest.Node) {
		if f.UploadLen != int64(len(data)) || f.LastHeader.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("upload sent Content-Length %d, type %q", f.UploadLen, f.LastHeader.Get("Content-Type"))
		}
	})

	// --json prints the document; --name and stdin.
	r = dds(t, f, nil, "put", "-", "--name", "in.txt", "--json").ok(t)
	var doc api.Document[api.File]
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("put --json: %v\n%s", err, r.stdout)
	}
	if doc.Data.Type != api.TypeFile || doc.Data.ID == "" || doc.Data.Attributes.Name != "in.txt" ||
		doc.Data.Attributes.Size != int64(len("from stdin")) || doc.Data.Links.Self != "/files/"+doc.Data.ID {
		t.Errorf("document %+v", doc)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"put", path, "--duration", "1.5s"}, `--duration: invalid duration "1.5s": not a whole number of seconds`},
		{[]string{"put", path, "--additional", "[1]"}, `--additional: invalid JSON object "[1]"`},
		{[]string{"put", path, "--pay"}, "--pay needs --billing-token"},
		{[]string{"put", "-"}, "--name is needed"},
		{[]string{"put"}, "missing FILE"},
		{[]string{"put", path, "--node", "localhost:7070"}, "--node: invalid node url"},
		{[]string{"put", filepath.Dir(path)}, filepath.Dir(path) + " is a directory: dds put uploads one file"},
	} {
		r := dds(t, f, nil, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	r = dds(t, f, nil, "put", filepath.Join(t.TempDir(), "missing"))
	if r.code != 1 || !strings.Contains(r.stderr, "dds: open upload:") {
		t.Errorf("missing file: exit %d, %q", r.code, r.stderr)
	}
}

func TestPutPay(t *testing.T) {
	f := apitest.NewNode(t)
	data := []byte("pay and store me")
	path := writeFile(t, data)
	r := dds(t, f, map[string]string{"DDS_BILLING_TOKEN": apitest.Token}, "put", path, "--pay").ok(t)
	for _, want := range []string{"state:", "stored", "replicas:", "12D3KooWfake", "payment:", "c0ffee00-"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("put --pay output lacks %q:\n%s", want, r.stdout)
		}
	}
	f.Set(func(f *apitest.Node) {
		if len(f.Payments) != 1 || len(f.Keys) != 1 {
			t.Errorf("%d payments, %d idempotency keys; want 1 and 1", len(f.Payments), len(f.Keys))
		}
		for _, p := range f.Payments {
			if p.Amount != 1000 || p.Status != api.PaymentSuccess {
				t.Errorf("payment %+v", p)
			}
		}
	})
	r = dds(t, f, nil, "put", path, "--pay", "--billing-token", apitest.Token, "--json").ok(t)
	var doc api.Document[api.File]
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Data.Attributes.State != api.StateStored {
		t.Errorf("put --pay --json: %v\n%s", err, r.stdout)
	}
	// A refused payment leaves the upload and its quote: dds says its id
	// and how to pay it, rather than lose it.
	r = dds(t, f, nil, "put", path, "--pay", "--billing-token", "wrong")
	m := idLine.FindStringSubmatch(r.stdout)
	if r.code != 1 || m == nil || !strings.HasPrefix(r.stderr, "dds: forbidden: wrong billing token\n") ||
		!strings.Contains(r.stderr, "dds: the file "+m[1]+" is uploaded and not paid: pay it with dds pay "+m[1]+" --amount 0.000001 before its quote expires at 2026-11-22T11:00:00Z\n") {
		t.Errorf("wrong token: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = dds(t, f, map[string]string{"DDS_BILLING_TOKEN": apitest.Token}, "pay", m[1], "--amount", "0.000001").ok(t)
}

func TestGet(t *testing.T) {
	f := apitest.NewNode(t)
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	id := putID(t, f, data)

	r := dds(t, f, nil, "get", id)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "dds: paymentRequired: ") {
		t.Errorf("unpaid get: exit %d, %q", r.code, r.stderr)
	}
	f.SetPaid(id)

	dir := t.TempDir()
	out := filepath.Join(dir, "out.bin")
	r = dds(t, f, nil, "get", id, "-o", out).ok(t)
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, %v", len(got), err)
	}
	if !strings.Contains(r.stdout, "100000 bytes") {
		t.Errorf("get output %q", r.stdout)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only out.bin", len(entries))
	}

	// stdout.
	r = dds(t, f, nil, "get", id).ok(t)
	if r.stdout != string(data) {
		t.Errorf("stdout got %d bytes", len(r.stdout))
	}

	// A failed download leaves nothing, not even over an existing file.
	f.Set(func(f *apitest.Node) { f.FailBody = true })
	failed := filepath.Join(dir, "failed.bin")
	r = dds(t, f, nil, "get", id, "--output", failed)
	if r.code != 1 || !strings.Contains(r.stderr, "dds: download "+id) {
		t.Errorf("cut download: exit %d, %q", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a failed download left %d entries", len(entries))
	}
	if err := os.WriteFile(failed, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.Set(func(f *apitest.Node) { f.FailBody = true })
	if r = dds(t, f, nil, "get", id, "-o", failed); r.code != 1 {
		t.Errorf("cut download: exit %d", r.code)
	}
	if b, _ := os.ReadFile(failed); string(b) != "old" {
		t.Errorf("a failed download replaced the file with %d bytes", len(b))
	}

	// Binary to a terminal is refused, as curl does, unless -o - says so;
	// text goes through.
	bin := []byte{0x7f, 'E', 'L', 'F', 0, 1, 2, 0xff}
	binID := putID(t, f, bin)
	f.SetPaid(binID)
	onTerminal := func(args ...string) result {
		var stdout, stderr bytes.Buffer
		a := &app{stdout: &stdout, stderr: &stderr, stdoutTerminal: true, version: "test",
			getenv: envFunc(map[string]string{"DDS_NODE": f.URL()})}
		return result{a.run(t.Context(), args), stdout.String(), stderr.String()}
	}
	if r := onTerminal("get", binID); r.code != 1 || r.stdout != "" ||
		r.stderr != "dds: file "+binID+" is binary and stdout is a terminal: save it with -o FILE or > FILE, or print it anyway with -o -\n" {
		t.Errorf("binary to a terminal: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := onTerminal("get", binID, "-o", "-").ok(t); r.stdout != string(bin) {
		t.Errorf("-o - wrote %q", r.stdout)
	}
	if r := onTerminal("get", id).ok(t); r.stdout != string(data) {
		t.Errorf("text to a terminal: %d bytes", len(r.stdout))
	}

	r = dds(t, f, nil, "get", "nope", "-o", filepath.Join(dir, "x"))
	if r.code != 1 || r.stderr != "dds: notFound: no file nope\n" {
		t.Errorf("unknown: exit %d, %q", r.code, r.stderr)
	}
}

func TestInfoAndLs(t *testing.T) {
	f := apitest.NewNode(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, putID(t, f, []byte{byte(i)}, "--name", "n"+string(rune('a'+i))))
	}
	r := dds(t, f, nil, "info", ids[1]).ok(t)
	if !strings.Contains(r.stdout, ids[1]) || !strings.Contains(r.stdout, "nb") || !strings.Contains(r.stdout, "quoted") {
		t.Errorf("info:\n%s", r.stdout)
	}
	r = dds(t, f, nil, "info", ids[1], "--json").ok(t)
	var doc api.Document[api.File]
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Data.ID != ids[1] {
		t.Errorf("info --json: %v\n%s", err, r.stdout)
	}
	// While its copies are made, a file is paid, not yet stored.
	f.Set(func(f *apitest.Node) { f.StoreAfter = 100 })
	dds(t, f, map[string]string{"DDS_BILLING_TOKEN": apitest.Token}, "pay", ids[2], "--amount", "0.000001").ok(t)
	r = dds(t, f, nil, "info", ids[2]).ok(t)
	if !regexp.MustCompile(`(?m)^state: +storing$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^paid: +2026-11-22T10:00:00Z$`).MatchString(r.stdout) ||
		strings.Contains(r.stdout, "stored:") {
		t.Errorf("info of a storing file:\n%s", r.stdout)
	}
	if r := dds(t, f, nil, "info", "nope"); r.code != 1 || r.stderr != "dds: notFound: no file nope\n" {
		t.Errorf("info unknown: exit %d, %q", r.code, r.stderr)
	}

	before := len(f.RequestLog())
	if r := dds(t, f, nil, "ls"); r.code != 2 || !strings.Contains(r.stderr, "--api-key") {
		t.Errorf("ls without a key: exit %d, %q", r.code, r.stderr)
	}
	r = dds(t, f, nil, "ls", "--page-size", "2", "--api-key", "k").ok(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("ls:\n%s", r.stdout)
	}
	for i, id := range ids {
		if !strings.HasPrefix(lines[i+1], id) || !strings.HasSuffix(lines[i+1], "n"+string(rune('a'+i))) {
			t.Errorf("line %d = %q", i+1, lines[i+1])
		}
	}
	if pages := len(f.RequestLog()) - before; pages != 3 {
		t.Errorf("ls asked %d pages, want 3", pages)
	}
	r = dds(t, f, map[string]string{"DDS_PAGE_SIZE": "3", "DDS_API_KEY": "k"}, "ls", "--json").ok(t)
	var list api.ListDocument[api.File]
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Data) != 5 {
		t.Errorf("ls --json: %v\n%s", err, r.stdout)
	}
	if r := dds(t, f, nil, "ls", "--page-size", "0"); r.code != 2 || !strings.Contains(r.stderr, "--page-size") {
		t.Errorf("page size 0: exit %d, %q", r.code, r.stderr)
	}
	if r := dds(t, f, nil, "ls", "--page-size", "5000", "--api-key", "k"); r.code != 1 || r.stderr != "dds: invalidValue: bad page size (at parameter page[size])\n" {
		t.Errorf("page size 5000: exit %d, %q", r.code, r.stderr)
	}
}

func TestExtend(t *testing.T) {
	f := apitest.NewNode(t)
	id := putID(t, f, bytes.Repeat([]byte("x"), 5000), "--duration", "86400")
	tok := map[string]string{"DDS_BILLING_TOKEN": apitest.Token}
	dds(t, f, tok, "pay", id, "--amount", "0.000005").ok(t) // stored 2026-11-22T10:00:00Z for 24h
	r := dds(t, f, nil, "extend", id, "--duration", "72h").ok(t)
	// The term the file has, the one asked for, and what the price buys.
	for _, want := range []string{"current term:  86400 s (24h0m0s)", "current end:   2026-11-23T10:00:00Z",
		"new term:      259200 s (72h0m0s), from the lease's start", "new end:       2026-11-25T10:00:00Z",
		"price:         0.00001 tokens, for 172800 s (48h0m0s) more", "extension_quoted", "dds pay " + id + " --amount 0.00001"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("extend output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "term:  ") && !strings.Contains(r.stdout, "current term:") {
		t.Errorf("extend output has a bare term:\n%s", r.stdout)
	}
	r = dds(t, f, nil, "extend", id, "--duration", "24h")
	if r.code != 1 || r.stderr != "dds: conflict: the new term must be longer than the current one (at /data/attributes/duration)\n" {
		t.Errorf("shorter: exit %d, %q", r.code, r.stderr)
	}
	if r := dds(t, f, nil, "extend", id); r.code != 2 || !strings.Contains(r.stderr, "--duration is required") {
		t.Errorf("no duration: exit %d, %q", r.code, r.stderr)
	}
	dds(t, f, tok, "pay", id, "--amount", "0.00001").ok(t)
	if r := dds(t, f, nil, "info", id).ok(t); !strings.Contains(r.stdout, "259200 s") || !regexp.MustCompile(`expires: +2026-11-25T10:00:00Z`).MatchString(r.stdout) {
		t.Errorf("after the extension is paid:\n%s", r.stdout)
	}
	r = dds(t, f, nil, "extend", id, "--duration", "96h", "--json").ok(t)
	var doc api.Document[api.File]
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Data.Attributes.State != api.StateExtensionQuoted {
		t.Errorf("extend --json: %v\n%s", err, r.stdout)
	}
}

func TestPay(t *testing.T) {
	f := apitest.NewNode(t)
	id := putID(t, f, []byte("hello"))
	tok := map[string]string{"DDS_BILLING_TOKEN": apitest.Token}
	r := dds(t, f, tok, "pay", id, "--amount", "0.000000999")
	if r.code != 1 || r.stderr != "dds: amountTooLow: amount 0.000000999 is below the price 0.000001 (at /data/attributes/amount)\n" {
		t.Errorf("too low: exit %d, %q", r.code, r.stderr)
	}
	// Above the price: refused unless meant (the API keeps all of it).
	r = dds(t, f, tok, "pay", id, "--amount", "1")
	if want := "dds: --amount 1 is more than the price 0.000001 of the open quote for " + id + ": pay 0.000001, or add --overpay to pay more on purpose\n"; r.code != 2 || r.stderr != want {
		t.Errorf("overpaid: exit %d, %q; want %q", r.code, r.stderr, want)
	}
	f.Set(func(f *apitest.Node) {
		if len(f.Payments) != 0 {
			t.Errorf("an overpayment was posted: %+v", f.Payments)
		}
	})
	r = dds(t, f, tok, "pay", id, "--amount", "0.000001").ok(t)
	for _, want := range []string{"payment:", "c0ffee00-", "file:", id, "status:", "success", "amount:", "0.000001 tokens"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("pay output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = dds(t, f, tok, "pay", id, "--amount", "1", "--json")
	if r.code != 1 || r.stderr != "dds: alreadyPaid: no open quote\n" {
		t.Errorf("paid twice: exit %d, %q", r.code, r.stderr)
	}

	over := putID(t, f, []byte("a gift"))
	dds(t, f, tok, "pay", over, "--amount", "1", "--overpay").ok(t)

	other := putID(t, f, []byte("cancel me"))
	r = dds(t, f, tok, "pay", other, "--status", "error", "--json", "--idempotency-key", "k").ok(t)
	var doc api.Document[api.Payment]
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Data.Attributes.Status != api.PaymentError ||
		doc.Data.Attributes.FileID != other || doc.Data.Type != api.TypePayment {
		t.Errorf("pay --status error --json: %v\n%s", err, r.stdout)
	}
	if r := dds(t, f, nil, "info", other).ok(t); !strings.Contains(r.stdout, "cancelled") {
		t.Errorf("not cancelled:\n%s", r.stdout)
	}

	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"pay", id, "--amount", "1.0000000001"}, tok, `--amount: invalid amount "1.0000000001": more than 9 decimals`},
		{[]string{"pay", id, "--amount", "-1"}, tok, `--amount: invalid amount "-1"`},
		{[]string{"pay", id}, tok, "--amount is required"},
		{[]string{"pay", id, "--amount", "1"}, nil, "--billing-token is required"},
		{[]string{"pay", id, "--amount", "1", "--status", "maybe"}, tok, `--status: invalid value "maybe"`},
		{[]string{"pay", "--amount", "1"}, tok, "missing ID"},
	} {
		r := dds(t, f, tt.env, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

func TestStatus(t *testing.T) {
	f := apitest.NewNode(t)
	r := dds(t, f, nil, "status").ok(t)
	for _, want := range []string{"status:", "up", "peer id:", "12D3KooWfake", "ledger index:", "42", "listen:", "/ip4/127.0.0.1/tcp/7071",
		"capacity:", "100 GiB", "rate:", "0.001 tokens per GiB-month", "quorum:", "voter", "dev"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = dds(t, f, nil, "status", "--json").ok(t)
	var both struct {
		Status api.Status `json:"status"`
		Info   api.Info   `json:"info"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &both); err != nil || both.Status.Status != "up" || both.Info.PeerID != "12D3KooWfake" {
		t.Errorf("status --json: %v\n%s", err, r.stdout)
	}
	f.Set(func(f *apitest.Node) { f.Down = true })
	r = dds(t, f, nil, "status")
	if r.code != 1 || !strings.Contains(r.stdout, "down") || !strings.Contains(r.stdout, "no billing quorum") ||
		r.stderr != "dds: unavailable: no billing quorum\n" {
		t.Errorf("down: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f.Close()
	want := "dds: the node at " + f.URL() + " is not reachable (connection refused)\ndds: is it running? Another node: --node URL or DDS_NODE=URL\n"
	if r := dds(t, f, nil, "status"); r.code != 1 || r.stderr != want {
		t.Errorf("no node: exit %d, %q; want %q", r.code, r.stderr, want)
	}
}

func TestLocalPayments(t *testing.T) {
	f := apitest.NewNode(t)
	id := putID(t, f, bytes.Repeat([]byte("y"), 2048))
	dds(t, f, nil, "pay", id, "--amount", "1", "--overpay", "--billing-token", apitest.Token).ok(t)
	r := dds(t, f, nil, "local-payments", "--from", "20261101", "--to", "20261130").ok(t)
	for _, want := range []string{"period:", "20261101 to 20261130", "amount:", "0.00006144 tokens", "size:", "2048 bytes (2 KiB)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("local-payments output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = dds(t, f, nil, "local-payments", "--from", "20261101", "--to", "20261130", "--json").ok(t)
	var doc api.Document[api.LocalPayment]
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Data.ID != "20261101-20261130" ||
		doc.Data.Type != api.TypeLocalPayment || doc.Data.Attributes.Size != 2048 {
		t.Errorf("--json: %v\n%s", err, r.stdout)
	}
	r = dds(t, f, nil, "local-payments", "--from", "20261130", "--to", "20261101")
	if r.code != 1 || r.stderr != "dds: invalidValue: to is before from (at parameter to)\n" {
		t.Errorf("reversed: exit %d, %q", r.code, r.stderr)
	}
	if r := dds(t, f, nil, "local-payments", "--from", "2026-11-01", "--to", "20261130"); r.code != 2 ||
		r.stderr != "dds: --from: invalid date \"2026-11-01\": want yyyymmdd\n" {
		t.Errorf("bad date: exit %d, %q", r.code, r.stderr)
	}
	if r := dds(t, f, nil, "local-payments", "--from", "20261101"); r.code != 2 || !strings.Contains(r.stderr, "--to are required") {
		t.Errorf("no --to: exit %d, %q", r.code, r.stderr)
	}
}

func TestRateLimitedError(t *testing.T) {
	f := apitest.NewNode(t)
	f.Set(func(f *apitest.Node) { f.Limited = true })
	r := dds(t, f, nil, "ls", "--api-key", "k")
	if r.code != 1 || r.stderr != "dds: rateLimited: slow down\n" {
		t.Errorf("exit %d, %q", r.code, r.stderr)
	}
}

func TestProgressOnTerminal(t *testing.T) {
	f := apitest.NewNode(t)
	data := bytes.Repeat([]byte("z"), 300_000)
	path := writeFile(t, data)
	run := func(args ...string) result {
		var stdout, stderr bytes.Buffer
		a := &app{stdout: &stdout, stderr: &stderr, terminal: true, version: "test",
			getenv:        envFunc(map[string]string{"DDS_NODE": f.URL(), "DDS_BILLING_TOKEN": apitest.Token}),
			clientOptions: []client.Option{client.WithPollInterval(time.Millisecond)}}
		return result{a.run(t.Context(), args), stdout.String(), stderr.String()}
	}
	r := run("put", path, "--pay", "--json").ok(t)
	if !strings.Contains(r.stderr, "uploading") || !strings.Contains(r.stderr, "state stored") {
		t.Errorf("no progress on the terminal: %q", r.stderr)
	}
	// One unit family: the summaries say KiB/MiB, so does the bar.
	if !strings.Contains(r.stderr, "293 KiB") || strings.Contains(r.stderr, "kB") {
		t.Errorf("progress not in IEC units: %q", r.stderr)
	}
	var doc api.Document[api.File]
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("progress leaked into stdout: %v\n%s", err, r.stdout)
	}
	out := filepath.Join(t.TempDir(), "o")
	r = run("get", doc.Data.ID, "-o", out).ok(t)
	if !strings.Contains(r.stderr, "downloading") {
		t.Errorf("no download progress: %q", r.stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Errorf("downloaded %d bytes", len(got))
	}
}

func TestPeers(t *testing.T) {
	f := apitest.NewNode(t)
	// An older node without GET /network: status says nothing of the
	// members, peers says why it cannot.
	if r := dds(t, f, nil, "status").ok(t); strings.Contains(r.stdout, "members:") {
		t.Errorf("status without /network lists members:\n%s", r.stdout)
	}
	if r := dds(t, f, nil, "peers"); r.code != 1 || !strings.Contains(r.stderr, "has no network view (GET /network): it runs an older dds") {
		t.Errorf("peers without /network: exit %d, %q", r.code, r.stderr)
	}
	seen := time.Now().Add(-20 * time.Second)
	idx, free := uint64(42), int64(5<<30)
	f.Set(func(f *apitest.Node) {
		f.Network = &api.Network{PeerID: "12D3KooWself", Leader: "12D3KooWself", LedgerIndex: 42,
			Members: []api.NetworkMember{
				{PeerID: "12D3KooWself", Role: "voter", Self: true, Reachable: true, HTTP: "http://127.0.0.1:7070", LedgerIndex: &idx, Free: &free},
				{PeerID: "12D3KooWgone", Role: "voter", Reachable: false, LastSeen: &seen},
				{PeerID: "12D3KooWnew", Role: "registered"},
			},
			Events: []api.Event{{Time: seen, Kind: "peer_gone", Message: "member unreachable", Peer: "12D3KooWgone"}},
		}
	})
	r := dds(t, f, nil, "peers", "--events").ok(t)
	for _, want := range []string{"12D3KooWself", "voter (leader, this node)", "http://127.0.0.1:7070", "42", "5 GiB",
		"12D3KooWgone", "UNREACHABLE", "20s ago", "12D3KooWnew", "registered", "1 of 3 members reachable",
		"peer_gone  member unreachable  peer 12D3KooWgone"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("peers output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := dds(t, f, nil, "status").ok(t); !strings.Contains(r.stdout, "1 of 3 members reachable") {
		t.Errorf("status does not say how many members are reachable:\n%s", r.stdout)
	}
	var nw api.Network
	if r := dds(t, f, nil, "peers", "--json").ok(t); json.Unmarshal([]byte(r.stdout), &nw) != nil || len(nw.Members) != 3 {
		t.Errorf("peers --json:\n%s", r.stdout)
	}
}
