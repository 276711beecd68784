package chunk

import (
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The index's compaction. badger's own compactors each poll the LSM tree
// every 50 ms (levels.go; the period is not an option): an idle store
// woke its process 40 times a second for nothing. On a paravirtual 2-core
// machine each such wake-up cost the process about 0.3 ms (the runtime's
// monitor spins awake after it too). A 32-daemon network there, without
// that polling (BenchmarkTestnetQuote): idle 0.79 -> 0.48 cores, quote
// p99 60-76 -> 41-58 ms.
//
// So by default (Options.NumCompactors 0) the store opens badger without
// compactors and compacts the index itself, when writes have given level 0
// compactL0 tables: db.Flatten, the one public way to compact, merges
// level 0 into the levels below until the tree holds one level. The
// compactor goroutine sleeps until a write wakes it and looks at level 0
// at most every compactPace, so an idle store costs nothing; a write
// burst cannot reach badger's stall (compactStall tables) unless it
// writes (compactStall-compactL0) memtables within one pace.
//
// The cost is write amplification on a large index: every flatten
// rewrites the whole tree, where badger's own compactions rewrite a level
// at a time. The index holds records of ~100 bytes per MiB-sized chunk
// (a 100 GiB store: ~15 MB), so a flatten every compactL0 memtables (16
// MiB of index writes) stays cheap; a store with a very large index (many
// tiny inline files) may set NumCompactors to 2 or more for badger's own.
const (
	compactL0    = 4
	compactStall = 16
	compactPace  = 100 * time.Millisecond
	// compactRetry is the wait before another try after a failed flatten.
	compactRetry = 5 * time.Second
)

// compactor runs db.Flatten when level 0 has compactL0 tables, looking
// when poked (Store.wrote) since it last looked. It is owned by the Store:
// started by Open, stopped by Close before the database closes.
type compactor struct {
	db  *badger.DB
	log *slog.Logger
	*kicked
}

func startCompactor(db *badger.DB, log *slog.Logger) *compactor {
	c := &compactor{db: db, log: log}
	c.kicked = startKicked(0, c.run)
	c.poke() // look once at the start: each close leaves a memtable in level 0
	return c
}

// run flattens the tree if level 0 is full, and returns the pause before
// the next look.
func (c *compactor) run() time.Duration {
	if c.level0() < compactL0 {
		return compactPace
	}
	start := time.Now()
	if err := c.db.Flatten(1); err != nil {
		c.log.Warn("compact chunk index", "err", err)
		c.poke() // try again after the pause, writes or not
		return compactRetry
	}
	c.log.Debug("compacted chunk index", "took", time.Since(start))
	return compactPace
}

// level0 is the number of tables in the index's level 0.
func (c *compactor) level0() int {
	for _, l := range c.db.Levels() {
		if l.Level == 0 {
			return l.NumTables
		}
	}
	return 0
}
