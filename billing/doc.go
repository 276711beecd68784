// Package billing is the ledger of a dds network: prices, quotes and their
// attestations, payments, leases, holders and what is due to each node.
//
// It is a pure, deterministic state machine in the manner of etcd's raft: no
// I/O, no clock reads, no randomness, no goroutines. Every change is a
// [Command] that carries the time it was issued; [State.Apply] uses only that
// time, so every replica that applies the same commands in the same order
// holds the same state (compare [State.Hash]). Package consensus replicates
// encoded commands and hands them to a [Ledger], the concurrency-safe
// wrapper that implements its state machine; package node builds the
// commands and reads the ledger.
//
// # Money
//
// Amounts are int64 nanotokens ([NanoPerToken] per token), never floats.
// [Price] computes max(MinPrice, ceil(size*duration*replicas*Rate /
// (GiB*2592000))) exactly.
//
// # Life of a file
//
// A node that takes an upload builds a [Quote] (kind [QuoteNew]), has it
// checked ([Quote.Check]) and signed over [Quote.Canonical] by
// [Settings.Threshold] other registered nodes ([Attest]), and proposes a
// [PutQuote]. The file is then [StateQuoted]. A [Pay] with status "success"
// and at least the price starts the lease ([StateStoring]); [Hold] records
// holders with their signed [Receipt]s and the file becomes [StateStored]
// when Settings.Replicas of them hold it. A [QuoteExtension] quote lengthens
// the term ([StateExtensionQuoted] until paid). [Expire] sweeps: leases whose
// term ended become [StateExpired] (listed in [Result].Expired: unpin them),
// and unpaid quotes close (new files listed in [Result].Dropped: drop their
// staged data). A payment with status "error" cancels the open quote
// ([StateCancelled] for a new file).
//
// # Retention
//
// The ledger stays bounded: an ended file becomes a small tombstone, and
// a sweep forgets it after [Settings.LapsedQuoteRetention] (a new quote
// that lapsed unpaid) or [Settings.TombstoneRetention] (expired or
// cancelled); its id is then unknown. What reports need of an ended lease
// is kept [ReportWindow] after its end; payments are kept. Sweeps find
// what is due in a heap of deadlines, at the ledger's time. Pages of files
// start after a cursor ([FileCursor], [State.Page]) that still places them
// after the file it names is forgotten.
//
// Refusals are [*Error] values whose Code is an API error code; test them
// with errors.Is against [ErrNotFound], [ErrAlreadyPaid], [ErrQuoteExpired],
// [ErrAmountTooLow], [ErrConflict], [ErrInvalid], [ErrGone] and
// [ErrForbidden].
//
// # Authority
//
// Every command is signed by the member that proposes it ([Command.Sign]),
// and [State.Apply] checks the signature on every replica, with the key the
// registry holds for the proposer ([PeerKey] for the founder's Init and a
// node's own Register), along with who may propose what: a current member,
// an issuer its quotes, a member the payments it took. See TRUST.md.
//
// # Use
//
//	l := billing.NewLedger()
//	init := billing.Command{Time: now, Init: &billing.Init{Settings: billing.DevSettings(), AdmissionKey: adm, Founder: me}}
//	signed, _ := init.Sign(me, myKey)
//	b, _ := signed.Encode()
//	res, _ := billing.DecodeResult(l.Apply(1, b))
//	if err := res.Refusal(); err != nil { ... }
//	l.Read(func(s *billing.State) { f, ok := s.File(id) ... })
//
// [State.LocalReport] answers /payments/local: each paid quote's price spread
// over the term it paid for, each instant split among the file's holders.
package billing
