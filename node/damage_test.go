package node

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddsnet/dds/consensus"
)

// A node whose ledger log was damaged while it was stopped (64 random
// bytes over the payment's entry) refuses to start, naming the entry and
// the directory, instead of serving a ledger without the payment (the
// paid file 404'd on that node). With the damage undone it starts and
// serves the file.
func TestDamagedLedgerRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	n, f, data := startWithPaidFile(t, dir, 3, 5000)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// The payment's entry: the only one that carries "payment_id".
	segs, _ := filepath.Glob(filepath.Join(raftDir(dir), "wal", "*.wal"))
	var seg string
	var orig []byte
	at := -1
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, []byte(`"payment_id"`)); i >= 0 {
			seg, orig, at = s, b, i
		}
	}
	if at < 0 {
		t.Fatalf("no segment of %v holds the payment", segs)
	}
	damaged := bytes.Clone(orig)
	copy(damaged[at:], randomBytes(9, 64))
	if err := os.WriteFile(seg, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := tryStartDev(t, dir, SystemClock, nil)
	if !errors.Is(err, consensus.ErrDamaged) {
		t.Fatalf("start with a damaged ledger: %v, want ErrDamaged", err)
	}
	var d *consensus.DamageError
	if !errors.As(err, &d) || d.Index == 0 || !strings.Contains(err.Error(), filepath.Join(raftDir(dir), "wal")) {
		t.Fatalf("the refusal names no entry or directory: %v", err)
	}
	t.Log(err)

	if err := os.WriteFile(seg, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	n = startDev(t, dir, SystemClock)
	if b := readAll(t, n, f.ID, 0, -1); !bytes.Equal(b, data) {
		t.Fatal("the file changed")
	}
}
