package consensus

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb"
)

// An earlier version's raft.db moves into the WAL with its logs and
// stable state, also after a crash in the middle of the move.
func TestMigrateLegacyStore(t *testing.T) {
	for _, crashed := range []bool{false, true} {
		dir := t.TempDir()
		old, err := raftboltdb.NewBoltStore(filepath.Join(dir, legacyDB))
		if err != nil {
			t.Fatal(err)
		}
		var logs []*raft.Log
		for i := uint64(1); i <= 100; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: 1 + i/50, Type: raft.LogCommand, Data: []byte{byte(i)}})
		}
		if err := old.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
		if err := old.SetUint64([]byte("CurrentTerm"), 7); err != nil {
			t.Fatal(err)
		}
		if err := old.Set([]byte("LastVoteCand"), []byte("someone")); err != nil {
			t.Fatal(err)
		}
		if err := old.SetUint64([]byte("LastVoteTerm"), 6); err != nil {
			t.Fatal(err)
		}
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		if crashed { // a half-made copy from a move that died
			if err := os.MkdirAll(filepath.Join(dir, migrating), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, migrating, "junk"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s, err := openStore(dir, 0, hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if first != 1 || last != 100 {
			t.Fatalf("indexes [%d, %d], want [1, 100]", first, last)
		}
		var l raft.Log
		if err := s.GetLog(77, &l); err != nil || l.Term != 2 || l.Data[0] != 77 {
			t.Fatalf("log 77: %+v, %v", l, err)
		}
		if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
			t.Fatalf("CurrentTerm %d, %v", v, err)
		}
		if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "someone" {
			t.Fatalf("LastVoteCand %q, %v", v, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for _, gone := range []string{legacyDB, migrating} {
			if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
				t.Fatalf("%s left after the move: %v", gone, err)
			}
		}
		// Reopened: the WAL alone, the same state.
		s, err = openStore(dir, 0, hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		if last, _ := s.LastIndex(); last != 100 {
			t.Fatalf("last index %d after reopen", last)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A raft.db that holds nothing (a node that never joined) moves too.
func TestMigrateEmptyLegacyStore(t *testing.T) {
	dir := t.TempDir()
	old, err := raftboltdb.NewBoltStore(filepath.Join(dir, legacyDB))
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := openStore(dir, 0, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if last, _ := s.LastIndex(); last != 0 {
		t.Fatalf("last index %d", last)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyDB)); !os.IsNotExist(err) {
		t.Fatalf("raft.db left: %v", err)
	}
}

// A member prepared for a promotion stays durable across a restart until
// a committed configuration has it a voter; from then on the usual rules
// hold after a restart.
func TestPreparedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *walStore {
		t.Helper()
		s, err := openStore(dir, 0, hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		s.id, s.mayBeLazy = "m", true
		return s
	}
	closeStore := func(s *walStore) {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	marker := filepath.Join(dir, walDir, preparedMarker)
	config := func(s raft.ServerSuffrage) raft.Configuration {
		return raft.Configuration{Servers: []raft.Server{{ID: "a", Suffrage: raft.Voter}, {ID: "m", Suffrage: s}}}
	}

	s := open()
	if s.pinned || s.marked {
		t.Fatal("a new store is prepared")
	}
	if err := s.pin(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker after the preparation: %v", err)
	}
	closeStore(s)

	s = open()
	if !s.pinned {
		t.Fatal("a prepared member restarted lazy-capable before its promotion")
	}
	s.noteCommitted(1, config(raft.Nonvoter))
	if s.files.lazy.Load() || !s.marked {
		t.Fatalf("a non-voter configuration committed before the promotion: lazy %v, marked %v", s.files.lazy.Load(), s.marked)
	}
	s.noteCommitted(2, config(raft.Voter))
	if s.marked {
		t.Fatal("the marker outlived the committed promotion")
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker after the committed promotion: %v", err)
	}
	if !s.pinned {
		t.Fatal("no longer durable in the run that was prepared")
	}
	closeStore(s)

	s = open()
	defer closeStore(s)
	if s.pinned || s.marked {
		t.Fatal("still prepared after a restart that followed the promotion")
	}
}
