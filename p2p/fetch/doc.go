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
// round-robin, and returns their bytes in order: memory stays at about
// Window chunks. A reader keeps its streams to each holder between
// requests (no stream set-up per chunk, and a stream's flow-control
// window, once grown, stays grown) and closes them when its last fetch
// ends. A holder that fails a chunk (an error, a timeout, not found or
// wrong bytes) is skipped for the next holder, tried last for the
// rest of that reader, and counted in [Service.Failures] for QoS. A chunk
// no holder serves verified fails the read: the reader never returns an
// unverified byte.
package fetch
