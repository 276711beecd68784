// Package push replicates a file's chunks to a holder over the libp2p
// protocol [ID] ("/dds/chunk/push/1.0.0") and brings back the holder's
// signed receipt.
//
// Every node runs a [Service] ([New]): it is the holder side (a stream
// handler writing into a [Store], normally a *chunk.Store) and the pushing
// side ([Service.Push]):
//
//	svc := push.New(h, store, push.Options{
//		Accept: func(ctx context.Context, from peer.ID, o push.Offer) error { ... },
//		Owner:  func(fileID string) string { return "lease/" + fileID },
//		Sign:   host.Sign,
//		Self:   host.ID().String(),
//	})
//	defer svc.Close()
//	rc, err := svc.Push(ctx, holder, holderKey, fileID, root, m, store.Get)
//
// One push is one stream: the pusher sends an [Offer] and the manifest;
// the holder checks the manifest against the root, asks [Options.Accept]
// (an error refuses: [ErrRefused]), holds the file's chunks against GC and
// answers with a bitmap of the chunks it lacks; a check that may wait
// ([Options.Confirm]: the node's replica of the ledger may learn of the
// payment a moment after the pusher) runs while the chunks come in. The pusher streams those,
// in order and without waiting for acknowledgements, reading a few ahead
// from its store (memory: a few chunks on each side). The holder verifies
// and stores each with a few workers ([Store.Put] verifies against the
// CID: wrong bytes end the push with a [*BadChunkError] naming the chunk
// and are never stored; the pusher need not hash what it sends),
// then stores the manifest, pins it under [Options.Owner] and answers with
// a billing.Receipt signed by [Options.Sign]. The pusher checks the
// receipt against the holder's raw ed25519 key before returning it
// ([ErrBadReceipt] otherwise).
//
// Pushes are resumable: the chunks a failed push stored stay on the
// holder, and the next push of the file sends only what is still missing
// (a push of a file the holder has sends no chunk at all).
package push
