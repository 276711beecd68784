package testnet

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

// A balance is debited exactly once per upload: uploads paid from it at
// two nodes at once, each sent twice with the same idempotency key, pay
// for as many files as the balance covers, and the balance ends at zero,
// never below.
func TestBalanceDebitedOnceUnderRetriesAndConcurrency(t *testing.T) {
	nw := startStorageNet(t, 4, 3, nil)
	ctx := t.Context()
	proc := storageClient(t, nw.Nodes[0])
	acc, err := proc.OpenAccount(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	key := client.WithAPIKey(acc.APIKey)
	at := []*client.Client{storageClient(t, nw.Nodes[0]), storageClient(t, nw.Nodes[1])}
	for i := range at {
		at[i], _ = client.New(nw.Nodes[i].URL, key)
	}
	const size, files = 64 << 10, 6
	probe, err := at[0].Upload(ctx, bytes.NewReader(patterned(999, size)), client.UploadOptions{Name: "probe", Size: size})
	if err != nil {
		t.Fatal(err)
	}
	price := int64(probe.Price)
	if _, err := proc.Credit(ctx, acc.ID, api.Tokens(price*files/2), "", nil); err != nil {
		t.Fatal(err)
	}

	type answer struct {
		id   string
		paid bool
	}
	var mu sync.Mutex
	byKey := map[string][]answer{}
	var wg sync.WaitGroup
	for i := range files {
		for try := range 2 { // the same request twice, at the same node, at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := at[i%2]
				f, err := c.Upload(ctx, bytes.NewReader(patterned(uint64(i), size)), client.UploadOptions{
					Name: fmt.Sprintf("f%d", i), Size: size, PayFromBalance: true, IdempotencyKey: fmt.Sprintf("up-%d", i)})
				if err != nil {
					t.Errorf("upload %d (try %d): %v", i, try, err)
					return
				}
				mu.Lock()
				byKey[f.Name] = append(byKey[f.Name], answer{f.ID, f.Payment != nil})
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	paid := 0
	for name, as := range byKey {
		if len(as) == 2 && as[0] != as[1] {
			t.Errorf("%s: the same request answered %v and %v", name, as[0], as[1])
		}
		if as[0].paid {
			paid++
		}
	}
	if paid != files/2 {
		t.Errorf("%d uploads paid from a balance that covers %d", paid, files/2)
	}
	a, err := at[1].Account(ctx, "me")
	if err != nil {
		t.Fatal(err)
	}
	if a.Balance != 0 {
		t.Errorf("balance %s after paying %d files of %d nanotokens, want 0", a.Balance, paid, price)
	}
	list, _, err := at[0].FilesInState(ctx, api.StateQuoted, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != files-paid+1 { // the unpaid ones and the probe
		t.Errorf("%d quoted files listed, want %d", len(list), files-paid+1)
	}
}

// A delete ends the lease everywhere: every holder lets its copy go and
// collects its chunks; reads are 410 at every node; another account can
// neither delete nor list the file.
func TestDeleteFreesEveryHolder(t *testing.T) {
	nw := startStorageNet(t, 4, 3, nil)
	ctx := t.Context()
	proc := storageClient(t, nw.Nodes[0])
	alice, err := proc.OpenAccount(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := proc.OpenAccount(ctx, "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proc.Credit(ctx, alice.ID, 1_000_000_000, "", nil); err != nil {
		t.Fatal(err)
	}
	as := func(i int, a *client.Account) *client.Client {
		c, err := client.New(nw.Nodes[i].URL, client.WithAPIKey(a.APIKey), client.WithPollInterval(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const size = 3<<20 + 5
	f, err := as(0, alice).Upload(ctx, bytes.NewReader(patterned(7, size)), client.UploadOptions{Name: "gone.bin", Size: size, PayFromBalance: true})
	if err != nil || f.Payment == nil {
		t.Fatalf("upload paid from the balance: %+v %v", f, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stored, err := as(1, alice).WaitState(wctx, f.ID, nil, api.StateStored)
	if err != nil {
		t.Fatal(err)
	}
	holders := map[string]*Node{}
	for _, nd := range nw.Nodes {
		if slices.Contains(stored.Replicas, nd.Node.PeerID()) {
			holders[nd.Name] = nd
		}
	}
	if len(holders) != 3 {
		t.Fatalf("%d holders", len(holders))
	}
	before := map[string]int64{}
	for name, nd := range holders {
		before[name] = nd.Node.Info(ctx).Stored
	}
	afterPay, err := as(2, alice).Account(ctx, "me")
	if err != nil {
		t.Fatal(err)
	}

	if err := as(3, bob).Delete(ctx, f.ID); !client.IsCode(err, api.CodeForbidden) {
		t.Fatalf("bob deletes alice's file: %v", err)
	}
	if list, _, err := as(3, bob).Files(ctx, "", 100); err != nil || len(list) != 0 {
		t.Fatalf("bob lists %d files, %v", len(list), err)
	}
	if err := as(3, alice).Delete(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nw.Nodes {
		_, _, err := as(0, alice).Download(ctx, f.ID, 0, -1)
		if !client.IsCode(err, api.CodeGone) {
			t.Fatalf("read at %s after the delete: %v", nd.Name, err)
		}
	}
	waitFor(t, 20*time.Second, "every holder frees the file", func() (bool, string) {
		var saw []string
		for name, nd := range holders {
			if now := nd.Node.Info(ctx).Stored; before[name]-now < size {
				saw = append(saw, fmt.Sprintf("%s stores %d bytes (%d before)", name, now, before[name]))
			}
		}
		return len(saw) == 0, fmt.Sprint(saw)
	})
	// The term was 30 days: about 30 whole days went back.
	a, err := as(1, alice).Account(ctx, "me")
	if err != nil {
		t.Fatal(err)
	}
	back := int64(a.Balance - afterPay.Balance)
	if want := int64(f.Price) * 29 / 30; back < want || back > int64(f.Price) {
		t.Errorf("refund %d of a price of %d, want at least %d (29 of 30 days)", back, f.Price, want)
	}
	if a.Files != 0 || a.StoredBytes != 0 {
		t.Errorf("account after the delete: %d files, %d bytes", a.Files, a.StoredBytes)
	}
}
