// Package chunk is the node's content-addressed storage: it splits files
// into chunks, names them by CID, and keeps them in plain files with a
// badger v4 index of records, manifests and pins, and garbage collection.
//
// # Content addressing
//
// A chunk is named by [Sum]: a CIDv1 with codec raw and multihash sha2-256
// of its bytes; [Verify] checks bytes against a CID. A file is a
// [Manifest]: its chunk size, total size and ordered chunk [Ref]s, encoded
// as canonical DAG-CBOR by [Manifest.Encode] and decoded strictly by
// [DecodeManifest]. The file's CID is [Manifest.CID] (codec dag-cbor).
// [Manifest.ChunkRange] maps a byte range to the chunks that cover it.
//
// # The store
//
// [Open] a [Store] with [DefaultOptions] (tuned for 1 MiB chunks and a small
// resident set) and [Store.Close] it on shutdown:
//
//	s, err := chunk.Open(chunk.DefaultOptions(filepath.Join(dataDir, "chunks")))
//	if err != nil { ... }
//	defer s.Close()
//
//	// Upload: chunk, hash, write, store the manifest and pin it, all or nothing.
//	root, m, err := s.Ingest(ctx, body, "upload/"+id, chunk.DefaultSize, maxSize)
//
//	// Or in two steps, to use the root while the pin commits.
//	st, err := s.Stage(ctx, body, chunk.DefaultSize, maxSize)
//	defer st.Release()
//	err = st.Pin(ctx, "upload/"+id)
//
//	// Download bytes [off, off+n) verified, with parallel prefetch.
//	r, err := s.NewReader(ctx, m, off, n)
//	defer r.Close()
//	io.Copy(w, r)
//
// Chunks are stored once however many files share them. A pin ([Store.Pin],
// one root per owner, e.g. one per lease or staged upload) counts a
// reference on every distinct chunk of its manifest; [Store.Unpin] drops
// it, and [Store.GC] deletes every chunk and manifest that no pin
// references and no running [Store.Ingest], unreleased [Staged] (or
// [Store.Hold]) keeps.
// Replication stores chunks one by one with [Store.Put] (verified against
// their CID), the manifest with [Store.PutManifest], then pins it; holding
// them with [Store.Hold] meanwhile keeps a concurrent GC away.
//
// GC unlinks the files of the chunks it removes, so their
// space comes back at once. Run it periodically.
//
// Every read is verified: [Store.Get], [Store.Manifest] and the readers of
// [Store.NewReader] return [ErrHashMismatch] rather than a wrong byte, and
// a later [Store.Put] of the right bytes repairs the stored chunk. The one
// exception is [Store.GetForPeer], for bytes sent to a peer that verifies
// them on arrival (hashing on both ends would double a transfer's largest
// CPU cost); it still refuses a chunk known corrupt or of the wrong size.
//
// [Store.PutMeta], [Store.GetMeta] and [Store.DeleteMeta] keep small
// durable records for the node in their own key space. [Store.Usage] is
// the number of distinct chunks stored and their bytes, kept in memory.
//
// # Layout
//
// Under [Options.Dir]:
//
//	index/                 badger: chunk records (size, reference count,
//	                       location), small chunks, manifests, pins, pin
//	                       intents, meta records
//	blocks/<shard>/<key>   one file per chunk
//
// key is the chunk's CID bytes in lowercase unpadded base32; shard is the
// next-to-last two characters of key (flatfs' next-to-last/2: the last
// character carries padding bits), so up to 1024 directories share the
// chunks evenly. Shard directories are made on first use. Chunks smaller
// than [Options.InlineSize] (4 KiB by default: the tails of files and small
// uploads) are kept in the index instead: a file of their own would cost a
// file creation, its sync and a directory sync, three times the synced
// index commit they ride in (measured 0.8 ms for a new 1 KiB file and its
// sync, 0.3 ms for an index commit).
//
// # Why files rather than badger's value log
//
// Chunks used to live in badger's value log. Badger always memory-maps its
// value-log files, so every chunk written or read counted in the process's
// resident set (1 GiB up and down: 1070 MiB peak RSS, 1035 MiB of it
// file-backed); files read with read(2) and written with write(2) leave
// their pages in the page cache, outside the process. The value log also
// writes every chunk twice over its life (once, then again when value-log
// GC rewrites a file that is partly garbage) and reclaims space only after
// a flush and compaction have told it which entries are dead; a network
// that deletes expired data all day needs space back at once, which an
// unlink gives. This is how IPFS Kubo stores blocks (flatfs and a KV store).
//
// Chunk files are read and written with direct I/O (O_DIRECT, on Linux,
// where the file system takes it; buffered I/O otherwise), past the page
// cache: a chunk is written once and read rarely, and on the 2-core VMs
// dds is measured on, the page cache costs more than it saves there (1 GiB
// written buffered then synced takes 2.2-3.9 s of kernel CPU, direct 0.2 s;
// a cold buffered read 2.8 s, direct 0.12 s). Ingest went from 269 to 389
// MB/s; a read of data just written, which the page cache would still
// hold, went from 2150 to 955 MB/s.
//
// # Writes and durability
//
// A chunk is written to a temporary file in its shard directory, synced,
// and renamed into place, so a chunk's final name never holds torn bytes;
// then its record is committed. If the file is already there with the
// recorded size (dedup), nothing is written; if it is missing, of the wrong
// size, or was found corrupt by a read, it is written again (a repair).
//
// Every index commit is synced (badger SyncWrites: concurrent commits share
// one sync). Before the commit that makes a pin point at chunks, their files
// are durable (each synced by the Ingest worker that wrote it, in parallel
// with the hashing of the next chunks) and so are the directories their
// names went into: each shard directory renamed into since its last sync is
// synced once, a few in parallel, and the blocks directory if a shard was
// made. So after a crash (kill or power loss) an acknowledged pin is there
// and every chunk it references is there and verifies. An Ingest of small
// files (at most 1000 references to change, 64 small chunks) is one index
// commit: its small chunks, manifest, reference counts and pin together. A
// pin of a large manifest changes reference counts in several commits,
// each recording its progress in an intent record; [Open] rolls back a pin
// that had not switched and finishes one that had.
//
// What a crash can leave behind is garbage, never a loss: a temporary
// file, or a chunk file whose record was never committed. The first GC
// after Open walks the blocks directory and removes the files that have no
// record and that no running Ingest or [Store.Hold] keeps (walking rather
// than committing a "being written" marker before each file: that marker
// would cost a synced commit per chunk on the ingest path, while orphans
// arise only from crashes, so one walk per Open suffices). A record whose
// file is gone (a crash between GC's unlink and its index commit, or a
// rename lost with its directory before a pin needed it) reads as
// [ErrNotFound], holds no reference, and GC deletes it; [Store.Pin]
// checks each chunk's file before pinning.
//
// # Memory
//
// Nothing on the chunk path is memory-mapped. The index holds small values
// only, so [DefaultOptions] keep badger small: 4 MiB memtables, 4 MiB
// block cache, 2 MiB index cache, 16 MiB value-log files (only manifests
// over 64 KiB go there). An Ingest holds Workers+2 chunk buffers, taken
// from a pool shared with readers; a reader holds the chunk it reads and
// the next, and up to ReadAhead more. Two budgets bound what many at
// once hold: BufferMemory all ingests' buffers, ReadAheadMemory all
// readers' chunks beyond the next. Measured on 2 cores: ingesting then
// reading 1 GiB peaks at about 30 MiB resident.
//
// # Compaction
//
// badger's compactors poll the index every 50 ms each, whether anything
// was written or not. The store runs none of them by default: it compacts
// the index itself (db.Flatten) when writes have filled level 0, and an
// idle store wakes no goroutine at all (compact.go says why and what it
// costs; [Options].NumCompactors brings badger's own back).
package chunk
