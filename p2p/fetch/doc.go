// Package fetch retrieves verified chunks and manifests from the nodes
// that hold them, over the libp2p protocol [ID] ("/dds/chunk/fetch/1.0.0").
//
// Every node runs a [Service] ([New]): it serves blocks from a [Store]
// (normally a *chunk.Store through [FromChunks]; its reads also return a
// manifest's bytes for its dag-cbor CID) and fetches from other nodes:
//
//	svc := fetch.New(h, fetch.FromChunks(store), fetch.Options{Window: 16})
//	defer svc.Close()
//	m, err := svc.Manifest(ctx, root, holders)
//	r := svc.NewReader(ctx, m, holders, off, n) // n = -1: to the end
//	defer r.Close()
//	io.Copy(w, r)
//
// A request is the CID's bytes, answered with a status and the block; a
// stream carries requests one after another until the requester closes it.
// [Service.Get] asks on a stream of its own and verifies the block against
// its CID ([ErrBadChunk] otherwise; [ErrNotFound] when the peer lacks it).
//
// [Service.NewReader] fetches only the chunks that cover the range,
// [Options.Window] of them in flight at once, spread over the holders
// round-robin, and returns their bytes in order: memory stays at
// Window chunks at most. All readers of a service share a budget,
// [Options.WindowMemory]: each reader always may fetch one chunk, and
// every further chunk of its window takes its size from the budget; while
// the budget is spent a reader goes on with the chunks it has. So one
// reader alone, or two, keep their whole windows, and ten at once (the
// ranged GETs of one S3 download) hold the budget plus a chunk each, not
// ten windows; a reader whose consumer stopped holds what it took and
// keeps no other reader waiting. A reader gives back what a chunk took
// when it moves past it, and all it holds when it ends. A reader keeps its streams to each holder between
// requests (no stream set-up per chunk, and a stream's flow-control
// window, once grown, stays grown) and closes them when its last fetch
// ends. A holder that fails a chunk (an error, a timeout, not found or
// wrong bytes) is skipped for the next holder, tried last for the
// rest of that reader, and counted in [Service.Failures] for QoS. A chunk
// no holder serves verified fails the read: the reader never returns an
// unverified byte.
package fetch
