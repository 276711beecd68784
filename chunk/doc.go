// Package chunk is the node's content-addressed storage: it splits files
// into chunks, names them by CID, and keeps them in a badger v4 store with
// manifests, pins and garbage collection.
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
//	// Download bytes [off, off+n) verified, with parallel prefetch.
//	r, err := s.NewReader(ctx, m, off, n)
//	defer r.Close()
//	io.Copy(w, r)
//
// Chunks are stored once however many files share them. A pin ([Store.Pin],
// one root per owner, e.g. one per lease or staged upload) counts a
// reference on every distinct chunk of its manifest; [Store.Unpin] drops
// it, and [Store.GC] deletes every chunk and manifest that no pin
// references and no running [Store.Ingest] (or [Store.Hold]) keeps.
// Replication stores chunks one by one with [Store.Put] (verified against
// their CID), the manifest with [Store.PutManifest], then pins it; holding
// them with [Store.Hold] meanwhile keeps a concurrent GC away.
//
// GC also reclaims disk space: it has badger flush and compact its small
// LSM tree of keys so that its value-log GC learns which value-log files
// hold mostly deleted chunks, then rewrites them. Run it periodically.
//
// Every read is verified: [Store.Get], [Store.Manifest] and the readers of
// [Store.NewReader] return [ErrHashMismatch] rather than a wrong byte, and
// a later [Store.Put] of the right bytes repairs the stored chunk.
//
// [Store.PutMeta], [Store.GetMeta] and [Store.DeleteMeta] keep small
// durable records for the node in their own key space. [Store.Usage] is
// the number of distinct chunks stored and their bytes, kept in memory.
//
// # Memory
//
// [DefaultOptions] keep badger's anonymous memory small (8 MiB memtables,
// 8 MiB block cache, 4 MiB index cache); an Ingest holds Workers+2 chunks
// and a reader ReadAhead+1. Badger maps its value-log files into memory,
// so the pages of chunks written or read recently count in the process's
// resident set as file-backed pages (RssFile): page cache that the kernel
// reclaims under pressure, not heap.
//
// # Crash safety
//
// Chunk writes are not synced one by one; the commits that create pins,
// manifests and meta records are preceded and followed by a sync of every
// badger log file (badger's own DB.Sync covers only the active memtable's
// WAL, not the WALs of memtables still waiting to be flushed), so an
// acknowledged pin survives a crash and never points at a missing chunk.
// A pin of a large manifest changes reference counts in several
// transactions, each recording its progress in an intent record; [Open]
// rolls back a pin that had not switched and finishes one that had.
package chunk
