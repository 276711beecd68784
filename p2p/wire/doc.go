// Package wire frames messages on libp2p streams: each message is a uvarint
// length followed by that many bytes, read with a size limit and under a
// deadline, so a slow or hostile peer can neither hold a stream open nor make
// the reader allocate more than it allows.
//
// [WriteMsg] and [ReadMsg] move raw messages; [WriteJSON] and [ReadJSON]
// move JSON-encoded values. A length over the reader's limit fails with
// [ErrTooLarge] before anything is allocated for it.
//
// Most protocols are one request and one response. [Handle] registers such a
// protocol on a host and [Call] invokes it:
//
//	wire.Handle(h, "/dds/echo/1.0.0", 10*time.Second, 4<<10,
//		func(ctx context.Context, from peer.ID, req EchoReq) (EchoResp, error) {
//			return EchoResp{Text: req.Text}, nil
//		})
//
//	var resp EchoResp
//	err := wire.Call(ctx, h, p, "/dds/echo/1.0.0", 10*time.Second, EchoReq{Text: "hi"}, &resp, 4<<10)
//
// A [Client] makes the same calls on streams it keeps open between them
// (the handler serves requests one after another on a stream, closing it
// after a minute without one): no stream set-up per call.
//
//	c := wire.NewClient(h)
//	defer c.Close()
//	err := c.Call(ctx, p, "/dds/echo/1.0.0", 10*time.Second, EchoReq{Text: "hi"}, &resp, 4<<10)
//
// Every stream carries a deadline: the caller's from ctx (or the timeout
// when ctx has none), the handler's from its timeout; a stream that runs past
// it fails with [ErrDeadline]. An error returned by the handler reaches the
// caller as a [*RemoteError] carrying its message.
package wire
