package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
)

// OpenAccount opens an account named name with a new API key and returns
// both: the key is shown once (the ledger keeps only the public key
// derived from it; billing.AccountKey).
func (n *Node) OpenAccount(ctx context.Context, name string) (Account, string, error) {
	switch {
	case name == "":
		return Account{}, "", &FieldError{Pointer: "/data/attributes/name", Code: api.CodeRequired, Detail: "name is required"}
	case len(name) > billing.MaxAccountName:
		return Account{}, "", &FieldError{Pointer: "/data/attributes/name", Code: api.CodeTooLong, Detail: fmt.Sprintf("name must be at most %d bytes", billing.MaxAccountName)}
	case !validName(name):
		return Account{}, "", &FieldError{Pointer: "/data/attributes/name", Code: api.CodeInvalidValue, Detail: "name must be UTF-8 without control characters"}
	}
	key, err := billing.NewAPIKey()
	if err != nil {
		return Account{}, "", err
	}
	res, err := n.apply(ctx, billing.Command{Open: &billing.OpenAccount{
		AccountID: uuid.NewString(), Name: name, PublicKey: billing.AccountPublicKey(key),
	}})
	if err != nil {
		return Account{}, "", err
	}
	return accountOf(*res.Account, 0, 0), key, nil
}

// Account returns an account with its usage, as of the ledger's current
// state: a credit or a payment acknowledged at any node shows at once (a
// balance read from a replica behind would show money that was spent).
func (n *Node) Account(ctx context.Context, id string) (Account, error) {
	if !n.catchUp(ctx) {
		return Account{}, errBehind
	}
	var a billing.Account
	var files int
	var stored int64
	var ok bool
	n.ledger.Read(func(st *billing.State) {
		if a, ok = st.Account(id); ok {
			files, stored = st.AccountUsage(id)
		}
	})
	if !ok {
		return Account{}, fmt.Errorf("%w: no account %s", ErrNotFound, id)
	}
	return accountOf(a, files, stored), nil
}

// Authenticate returns the caller an API key makes: the account whose key
// it is. An unknown key is ErrUnauthorized (a key of an account opened at
// another node a moment ago is looked for after catching up).
func (n *Node) Authenticate(ctx context.Context, apiKey string) (Caller, error) {
	if apiKey == "" || len(apiKey) > 256 || strings.ContainsFunc(apiKey, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return Caller{}, fmt.Errorf("%w: not an account's API key", ErrUnauthorized)
	}
	pub := billing.AccountPublicKey(apiKey)
	var a billing.Account
	var ok bool
	checked := n.fresh(ctx, func() bool {
		n.ledger.Read(func(st *billing.State) { a, ok = st.AccountByKey(pub) })
		return ok
	})
	switch {
	case !ok && !checked:
		return Caller{}, fmt.Errorf("%w: the key is not in this node's replica of the ledger, which cannot reach the leader to catch up", ErrUnavailable)
	case !ok:
		return Caller{}, fmt.Errorf("%w: no account has this API key", ErrUnauthorized)
	}
	return Caller{Account: a.ID, APIKey: apiKey}, nil
}

// AccountFiles lists an account's files like Files, those in state only
// when state is not empty.
func (n *Node) AccountFiles(ctx context.Context, account, after string, limit int, state string) ([]File, string, error) {
	if limit < 1 {
		limit = 100
	}
	// A list is a read like any other: what was acknowledged anywhere shows.
	if !n.catchUp(ctx) {
		return nil, "", errBehind
	}
	var list []billing.File
	known := true
	n.ledger.Read(func(st *billing.State) {
		list, known = st.AccountPage(account, after, limit+1, billing.FileState(state))
	})
	if !known {
		return nil, "", fmt.Errorf("%w: no file %s of this account to page after", ErrNotFound, after)
	}
	out, next := filePage(list, limit)
	return out, next, nil
}

// PayFromBalance pays the open quote of file id from the caller's balance:
// ErrPaymentRequired when the balance is below the price. A quote is paid
// once, whoever retries: the ledger refuses a second payment.
func (n *Node) PayFromBalance(ctx context.Context, id string, by Caller) (Payment, File, error) {
	if by.Account == "" {
		return Payment{}, File{}, fmt.Errorf("%w: paying from a balance needs the account's API key", ErrUnauthorized)
	}
	f, ok, checked := n.freshFile(ctx, id, nil)
	if !ok {
		return Payment{}, File{}, errNoFile(id, checked)
	}
	if f.Quote == nil {
		return Payment{}, File{}, fmt.Errorf("%w: file %s has no open quote", ErrAlreadyPaid, id)
	}
	pid := uuid.NewString()
	res, err := n.apply(ctx, billing.Command{Pay: &billing.Pay{
		PaymentID: pid, FileID: id, Status: billing.PaymentSuccess, Amount: f.Quote.Price, ReceivedBy: n.PeerID(),
		From: billing.Consent(by.Account, by.APIKey, billing.PayMessage(by.Account, pid, id, f.Quote.Price)),
	}})
	if err != nil {
		return Payment{}, fileOf(f), err
	}
	n.metrics.payments.WithLabelValues(billing.PaymentSuccess).Inc()
	n.paid(ctx, res)
	return paymentOf(*res.Payment), fileOf(*res.File), nil
}

// Delete ends the lease of the caller's file now (its holders let their
// copies go at their next reconcile) and gives the unused whole days its
// balance paid back.
func (n *Node) Delete(ctx context.Context, id string, by Caller) error {
	f, ok, checked := n.freshFile(ctx, id, nil)
	if !ok {
		return errNoFile(id, checked)
	}
	if f.Owner == "" {
		return fmt.Errorf("%w: file %s has no owner: it cannot be deleted", ErrForbidden, id)
	}
	if err := ownerOnly(f, by); err != nil {
		return err
	}
	res, err := n.apply(ctx, billing.Command{Delete: &billing.Delete{
		FileID: id, Auth: *billing.Consent(by.Account, by.APIKey, billing.DeleteMessage(by.Account, id)),
	}})
	if err != nil {
		return err
	}
	n.dropStaged(ctx, res.Dropped)
	if len(res.Expired) > 0 {
		kick(n.expireKick)
	}
	return nil
}

// ownerOnly refuses a caller that is not f's owner.
func ownerOnly(f billing.File, by Caller) error {
	switch {
	case by.Account == "":
		return fmt.Errorf("%w: file %s belongs to an account: its API key is needed", ErrUnauthorized, f.ID)
	case by.Account != f.Owner:
		return fmt.Errorf("%w: file %s belongs to another account", ErrForbidden, f.ID)
	}
	return nil
}

// kick wakes the loop that waits on c, unless it is woken already.
func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func accountOf(a billing.Account, files int, stored int64) Account {
	return Account{ID: a.ID, Name: a.Name, Balance: a.Balance, Credits: a.Credits, StoredBytes: stored, Files: files, OpenedAt: a.OpenedAt}
}
