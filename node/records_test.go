package node

import (
	"testing"
	"time"

	"github.com/ddsnet/dds/chunk"
)

// TestRecordsExpire checks that an idempotency record is gone for Get once
// it is IdempotencyTTL old, that Prune deletes it from the store, and that
// a record written before stamps is dated by Prune and goes a TTL later.
func TestRecordsExpire(t *testing.T) {
	ctx := t.Context()
	st, err := chunk.Open(chunk.DefaultOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	r := &Records{store: st, now: func() time.Time { return now }, ttl: IdempotencyTTL}

	if err := r.Put(ctx, "a", []byte(`{"status":201}`)); err != nil {
		t.Fatal(err)
	}
	// Written before stamps: the JSON record alone.
	if err := st.PutMeta(ctx, recordsKey+"old", []byte(`{"status":402}`)); err != nil {
		t.Fatal(err)
	}
	get := func(key string) (string, bool) {
		t.Helper()
		v, ok, err := r.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return string(v), ok
	}
	if v, ok := get("a"); !ok || v != `{"status":201}` {
		t.Fatalf("fresh record: %q %v", v, ok)
	}
	if v, ok := get("old"); !ok || v != `{"status":402}` {
		t.Fatalf("unstamped record: %q %v", v, ok)
	}
	now = now.Add(time.Hour)
	if n, err := r.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	now = now.Add(IdempotencyTTL - time.Hour - time.Second)
	if _, ok := get("a"); !ok {
		t.Fatal("record gone before the TTL")
	}
	now = now.Add(time.Second)
	if _, ok := get("a"); ok {
		t.Fatal("record kept past the TTL")
	}
	if _, ok := get("old"); !ok {
		t.Fatal("the unstamped record, dated by the first prune, went early")
	}
	if n, err := r.Prune(ctx); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if keys, _ := st.MetaKeys(ctx, recordsKey); len(keys) != 1 || keys[0] != recordsKey+"old" {
		t.Fatalf("keys after prune: %v", keys)
	}
	now = now.Add(time.Hour)
	if n, err := r.Prune(ctx); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if keys, _ := st.MetaKeys(ctx, recordsKey); len(keys) != 0 {
		t.Fatalf("keys after prune: %v", keys)
	}
}
