// Package audit lets the holders of a file prove to each other that they
// still hold its chunks, over the libp2p protocol [Protocol]
// ("/dds/chunk/audit/1.0.0"), without sending the chunks.
//
// Every holder runs a [Service] ([New]): it answers challenges from a
// [Store] (normally a *chunk.Store, whose Get returns verified bytes) and
// challenges the other holders of the files it holds:
//
//	svc := audit.New(h, store, audit.Options{
//		OnCorrupt: func(c cid.Cid) { node.refetch(c) }, // must not block long
//	})
//	defer svc.Close()
//	err := svc.Challenge(ctx, holder, m.Chunks[rand.IntN(len(m.Chunks))].CID)
//	switch {
//	case err == nil: // proven
//	case errors.Is(err, audit.ErrMissing), errors.Is(err, audit.ErrCorrupt),
//		errors.Is(err, audit.ErrWrongProof):
//		// the holder failed the audit: count it against the holder
//	case errors.Is(err, chunk.ErrHashMismatch), errors.Is(err, chunk.ErrNotFound):
//		// this node cannot check: its own copy is bad or gone
//	default:
//		// unreachable, timed out, busy ([ErrBusy]) or misbehaving: no proof
//	}
//
// A challenge for chunk c carries a fresh random nonce of [NonceSize]
// bytes; the answer is [Proof](nonce, chunk) = SHA-256(nonce || chunk).
// The challenger holds the same chunk and computes the expected proof from
// its own verified copy before asking (a node that holds none of the file
// uses bytes it fetched and verified elsewhere: [Service.ChallengeWith]), so a holder cannot answer without
// the bytes, and an answer recorded for one nonce is worthless for the
// next. The service turns no failure into repair itself: the node decides
// what to do with the errors. A holder whose own copy went bad on disk
// (its store's Get fails with chunk.ErrHashMismatch) finds out while
// answering or while checking, and [Options.OnCorrupt] is called so the
// node can fetch a good copy.
//
// # Wire format
//
// One challenge is one stream. A frame is a uvarint length, then that
// many bytes. The challenger writes
//
//	frame(nonce)      32 bytes
//	frame(cid bytes)  at most 128 bytes
//
// and closes its side; the holder answers with one status byte,
// followed by the 32-byte proof when the status is 0:
//
//	0 ok: proof follows        3 busy: MaxConcurrent challenges served
//	1 missing: no such chunk   4 bad request: malformed, refused
//	2 corrupt: own copy bad    5 error: the holder's store failed
//
// and closes the stream. The holder reads no frame longer than its limit
// (a longer length is refused before its body is read) and refuses a
// nonce of another size or a CID that does not parse. Both sides put a
// deadline of [Options.Timeout] on the stream. At most
// [Options.MaxConcurrent] challenges are worked on (the store read and the
// hash) at once; the holder refuses more with status busy instead of
// queueing them, so no peer can make it hold more than that much work.
// Streams that have not sent their request yet cost only a goroutine
// until their deadline, and the libp2p resource manager bounds how many
// streams one peer may open.
package audit
