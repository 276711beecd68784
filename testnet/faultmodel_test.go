package testnet

import (
	"fmt"
	"testing"

	"github.com/anishathalye/porcupine"
)

// The model the fault suite checks its history against (porcupine): the
// ledger as a client sees one file of it. Every operation names its file,
// so the history is checked file by file.

// opKind is what a client asked of the network.
type opKind uint8

const (
	opUpload opKind = iota // POST /files: a new file with an open quote
	opPay                  // POST /payments: pay the open quote
	opExtend               // PATCH /files/{id} with a longer term: an extension quote
	opInfo                 // GET /files/{id}/info
)

func (k opKind) String() string {
	return [...]string{"upload", "pay", "extend", "info"}[k]
}

// fileOp is a model operation's input.
type fileOp struct {
	Kind     opKind
	File     string
	Node     int   // the node asked (for the report)
	Duration int64 // upload: the term; extend: the new term
}

// outcome is what the network answered, as the model tells answers apart.
type outcome uint8

const (
	outUnknown     outcome = iota // no answer, or a 5xx: it may or may not have taken effect
	outQuoted                     // upload: 402 with the quote; extend: 402 with the extension quote
	outPaid                       // 201: the payment PaymentID was recorded
	outAlreadyPaid                // 409 alreadyPaid
	outConflict                   // 409 conflict (extend: a quote is open, or the file is not paid)
	outState                      // info: State and Duration as the node showed them
	outOther                      // any other answer: never legal
)

func (o outcome) String() string {
	return [...]string{"unknown", "quoted", "paid", "alreadyPaid", "conflict", "state", "other"}[o]
}

// fileResult is a model operation's output.
type fileResult struct {
	Out       outcome
	PaymentID string // outPaid
	State     string // outState
	Duration  int64  // outState: the term shown
	Detail    string // outOther, outUnknown: what came back
}

// fileModel is the ledger's record of one file, as far as clients see it.
type fileModel struct {
	Exists   bool
	Open     string // "" no open quote, "new" the first quote, "ext" an extension quote
	Paid     bool   // the first quote was paid
	Duration int64  // the term of the open first quote, then the paid term
	ExtTerm  int64  // the term the open extension quote would make
	// Payments are the ids of the payments recorded, in order,
	// comma-separated ("?" for one whose answer was lost). Every attempt
	// carries its own Idempotency-Key, so no answer is ever a replay: a
	// second 201 for a file with no open quote is a double payment.
	Payments string
}

// apply is the effect of in when it succeeds (an unknown outcome may be
// this or nothing).
func (m fileModel) apply(in fileOp, out fileResult) (fileModel, bool) {
	switch in.Kind {
	case opUpload:
		if m.Exists {
			return m, false
		}
		return fileModel{Exists: true, Open: "new", Duration: in.Duration}, true
	case opPay:
		switch m.Open {
		case "new":
			m.Paid = true
		case "ext":
			m.Duration = m.ExtTerm
			m.ExtTerm = 0
		default:
			return m, false
		}
		m.Open = ""
		id := out.PaymentID
		if id == "" {
			id = "?" // an unanswered payment that took effect
		}
		if m.Payments != "" {
			m.Payments += ","
		}
		m.Payments += id
		return m, true
	case opExtend:
		if !m.Paid || m.Open != "" || in.Duration <= m.Duration {
			return m, false
		}
		m.Open, m.ExtTerm = "ext", in.Duration
		return m, true
	}
	return m, false
}

// step lists the states after in answered out from m; none when the
// answer is impossible in m.
func (m fileModel) step(in fileOp, out fileResult) []fileModel {
	if in.Kind == opInfo {
		if out.Out != outState || !m.Exists {
			return nil
		}
		switch out.State {
		case "quoted":
			if m.Open == "new" {
				return []fileModel{m}
			}
		case "storing", "stored":
			if m.Paid && m.Open == "" && out.Duration == m.Duration {
				return []fileModel{m}
			}
		case "extension_quoted":
			if m.Open == "ext" {
				return []fileModel{m}
			}
		}
		return nil
	}
	switch out.Out {
	case outUnknown:
		if next, ok := m.apply(in, out); ok {
			return []fileModel{m, next}
		}
		return []fileModel{m}
	case outQuoted:
		if next, ok := m.apply(in, out); ok && (in.Kind == opUpload || in.Kind == opExtend) {
			return []fileModel{next}
		}
	case outPaid:
		if in.Kind != opPay {
			return nil
		}
		if next, ok := m.apply(in, out); ok {
			return []fileModel{next}
		}
	case outAlreadyPaid:
		if in.Kind == opPay && m.Paid && m.Open == "" {
			return []fileModel{m}
		}
	case outConflict:
		if in.Kind == opExtend && m.Exists && (m.Open != "" || !m.Paid || in.Duration <= m.Duration) {
			return []fileModel{m}
		}
	}
	return nil
}

// ledgerModel is the porcupine model of the fault suite's history.
var ledgerModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byFile := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			f := op.Input.(fileOp).File
			if _, ok := byFile[f]; !ok {
				order = append(order, f)
			}
			byFile[f] = append(byFile[f], op)
		}
		parts := make([][]porcupine.Operation, 0, len(order))
		for _, f := range order {
			parts = append(parts, byFile[f])
		}
		return parts
	},
	Init: func() []any { return []any{fileModel{}} },
	Step: func(state, input, output any) []any {
		next := state.(fileModel).step(input.(fileOp), output.(fileResult))
		out := make([]any, len(next))
		for i, s := range next {
			out[i] = s
		}
		return out
	},
	Equal: func(a, b any) bool { return a.(fileModel) == b.(fileModel) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(fileOp), output.(fileResult)
		s := fmt.Sprintf("node%d %s", in.Node, in.Kind)
		if in.Kind == opExtend || in.Kind == opUpload {
			s += fmt.Sprintf("(%d s)", in.Duration)
		}
		s += " -> " + out.Out.String()
		switch out.Out {
		case outPaid:
			s += " " + out.PaymentID
		case outState:
			s += fmt.Sprintf(" %s %d s", out.State, out.Duration)
		case outOther, outUnknown:
			if out.Detail != "" {
				s += ": " + out.Detail
			}
		}
		return s
	},
	DescribeState: func(state any) string {
		m := state.(fileModel)
		if !m.Exists {
			return "none"
		}
		return fmt.Sprintf("open=%q paid=%v term=%d ext=%d payments=[%s]", m.Open, m.Paid, m.Duration, m.ExtTerm, m.Payments)
	},
}

// TestLedgerModelCatchesViolations: the checker the fault suite relies on
// accepts the histories a correct ledger can give, unknown answers
// included, and refuses a double payment, a lost payment and a stale read.
func TestLedgerModelCatchesViolations(t *testing.T) {
	model := ledgerModel.ToModel()
	const never = int64(1 << 62)
	op := func(call, ret int64, in fileOp, out fileResult) porcupine.Operation {
		in.File = "f"
		return porcupine.Operation{Input: in, Call: call, Output: out, Return: ret}
	}
	upload := op(0, 1, fileOp{Kind: opUpload, Duration: 60}, fileResult{Out: outQuoted})
	cases := []struct {
		name string
		ok   bool
		ops  []porcupine.Operation
	}{
		{"paid once, seen paid", true, []porcupine.Operation{upload,
			op(2, 3, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p1"}),
			op(4, 5, fileOp{Kind: opInfo}, fileResult{Out: outState, State: "stored", Duration: 60}),
		}},
		{"two payers at once: one pays, one is told it is paid", true, []porcupine.Operation{upload,
			op(2, 6, fileOp{Kind: opPay}, fileResult{Out: outAlreadyPaid}),
			op(3, 5, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p1"}),
		}},
		{"an unanswered payment that took effect", true, []porcupine.Operation{upload,
			op(2, never, fileOp{Kind: opPay}, fileResult{Out: outUnknown}),
			op(4, 5, fileOp{Kind: opPay}, fileResult{Out: outAlreadyPaid}),
		}},
		{"an unanswered payment that did not", true, []porcupine.Operation{upload,
			op(2, never, fileOp{Kind: opPay}, fileResult{Out: outUnknown}),
			op(4, 5, fileOp{Kind: opInfo}, fileResult{Out: outState, State: "quoted"}),
		}},
		{"an extension paid", true, []porcupine.Operation{upload,
			op(2, 3, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p1"}),
			op(4, 5, fileOp{Kind: opExtend, Duration: 120}, fileResult{Out: outQuoted}),
			op(6, 7, fileOp{Kind: opExtend, Duration: 180}, fileResult{Out: outConflict}),
			op(8, 9, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p2"}),
			op(10, 11, fileOp{Kind: opInfo}, fileResult{Out: outState, State: "storing", Duration: 120}),
		}},
		{"double payment", false, []porcupine.Operation{upload,
			op(2, 3, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p1"}),
			op(4, 5, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p2"}),
		}},
		{"two payers both told they paid", false, []porcupine.Operation{upload,
			op(2, 6, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p1"}),
			op(3, 5, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p2"}),
		}},
		{"an acknowledged payment lost", false, []porcupine.Operation{upload,
			op(2, 3, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p1"}),
			op(4, 5, fileOp{Kind: opInfo}, fileResult{Out: outState, State: "quoted"}),
		}},
		{"a stale term after the extension was paid", false, []porcupine.Operation{upload,
			op(2, 3, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p1"}),
			op(4, 5, fileOp{Kind: opExtend, Duration: 120}, fileResult{Out: outQuoted}),
			op(6, 7, fileOp{Kind: opPay}, fileResult{Out: outPaid, PaymentID: "p2"}),
			op(8, 9, fileOp{Kind: opInfo}, fileResult{Out: outState, State: "stored", Duration: 60}),
		}},
		{"paid told before any payment", false, []porcupine.Operation{upload,
			op(2, 3, fileOp{Kind: opPay}, fileResult{Out: outAlreadyPaid}),
		}},
		{"any other answer", false, []porcupine.Operation{upload,
			op(2, 3, fileOp{Kind: opPay}, fileResult{Out: outOther, Detail: "quoteExpired"}),
		}},
	}
	for _, c := range cases {
		if got := porcupine.CheckOperations(model, c.ops); got != c.ok {
			t.Errorf("%s: linearizable %v, want %v", c.name, got, c.ok)
		}
	}
}
