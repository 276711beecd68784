package node

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
)

// Pay records a payment the payment processor reports. A successful payment
// of a new file's quote starts its lease, and the node then places the file
// (pins it and records the holders); one of an extension quote lengthens the
// term; status error cancels the open quote.
func (n *Node) Pay(ctx context.Context, p PaymentRequest) (Payment, error) {
	if p.Status != api.PaymentSuccess && p.Status != api.PaymentError {
		return Payment{}, &FieldError{Pointer: "/data/attributes/status", Code: api.CodeInvalidValue, Detail: `status must be "success" or "error"`}
	}
	if p.Amount < 0 {
		return Payment{}, &FieldError{Pointer: "/data/attributes/amount", Code: api.CodeInvalidValue, Detail: "amount must not be negative"}
	}
	res, err := n.apply(ctx, billing.Command{Pay: &billing.Pay{
		PaymentID: uuid.NewString(), FileID: p.FileID, AccountID: p.AccountID, Status: p.Status, Amount: p.Amount,
		ReceivedBy: n.PeerID(), ProcessorSig: p.ProcessorSignature,
	}})
	if err != nil {
		return Payment{}, err
	}
	n.metrics.payments.WithLabelValues(p.Status).Inc()
	n.paid(ctx, res)
	return paymentOf(*res.Payment), nil
}

// paid does what follows an applied payment: staged bytes of a cancelled
// upload go, a paid new file is placed.
func (n *Node) paid(ctx context.Context, res billing.Result) {
	n.dropStaged(ctx, res.Dropped)
	if res.File != nil && res.File.State == billing.StateStoring {
		s, _ := n.settings()
		if s.Replicas == 1 {
			// This node alone holds it: place it before answering.
			if err := n.place(ctx, res.File.ID); err != nil {
				n.log.Warn("place paid file", "file", res.File.ID, "err", err)
				n.kickPlacement() // the loop retries
			}
		} else {
			n.kickPlacement() // copies to the holders go on in the background
		}
	}
}

// Payment returns a recorded payment; one this replica does not know yet
// (posted through another node a moment ago) is looked for again once it
// has caught up with the leader.
func (n *Node) Payment(ctx context.Context, id string) (Payment, error) {
	var p billing.Payment
	var ok bool
	checked := n.fresh(ctx, func() bool {
		n.ledger.Read(func(st *billing.State) { p, ok = st.Payment(id) })
		return ok
	})
	if !ok && !checked {
		return Payment{}, fmt.Errorf("%w: payment %s is not in this node's replica of the ledger, which cannot reach the leader to catch up", ErrUnavailable, id)
	}
	if !ok {
		return Payment{}, fmt.Errorf("%w: no payment %s", ErrNotFound, id)
	}
	return paymentOf(p), nil
}

func paymentOf(p billing.Payment) Payment {
	return Payment{ID: p.ID, FileID: p.FileID, Status: p.Status, Amount: p.Amount, CreatedAt: p.At, ReceivedBy: p.ReceivedBy,
		AccountID: p.AccountID, FromAccount: p.FromAccount}
}

// LocalPayments reports what is due to this node for the UTC days from..to
// inclusive.
func (n *Node) LocalPayments(_ context.Context, from, to time.Time) (LocalReport, error) {
	from, to = day(from), day(to)
	if to.Before(from) {
		return LocalReport{}, &FieldError{Pointer: "", Code: api.CodeInvalidValue, Detail: "from must not be after to"}
	}
	var r billing.LocalReport
	self := n.PeerID()
	n.ledger.Read(func(st *billing.State) { r = st.LocalReport(self, from, to) })
	return LocalReport{From: from, To: to, Amount: r.Amount, Size: r.Size}, nil
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
