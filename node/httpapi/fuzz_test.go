package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"testing"

	"github.com/ddsnet/dds/api"
)

// FuzzUploadDocument feeds the streaming upload scanner arbitrary
// documents: it never panics, and a document it accepts is valid JSON
// whose data decodes to exactly the bytes the scanner produced.
func FuzzUploadDocument(f *testing.F) {
	for _, s := range []string{
		`{"data":{"type":"file","attributes":{"name":"a","data":"QUJD"}}}`,
		`{"data":{"attributes":{"data":"QUJD","name":"a","duration":5,"additional":{"k":[1,{"x":null}]}},"type":"file"},"meta":{}}`,
		`{"data":{"type":"file","attributes":{"name":"a\u0000","data":"QU\u004aD\/\/"}}}`,
		`{"data":{"type":"file","attributes":{"name":"a","data":"QUJ`,
		`[{"data":1}]`, `{"data":{"type":"file","attributes":{"data":"QUJD","data":"QUJD"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		s := newUploadDoc(bytes.NewReader(doc))
		var got []byte
		var err error
		if s.head() {
			got, err = io.ReadAll(io.LimitReader(s.content(), 1<<20))
		}
		accepted := err == nil && s.done && s.syntax == nil && len(s.problems()) == 0
		if !accepted {
			return
		}
		if !json.Valid(doc) {
			t.Fatalf("accepted invalid JSON %q", doc)
		}
		var top map[string]json.RawMessage
		var res map[string]json.RawMessage
		var attrs map[string]json.RawMessage
		var data string
		if json.Unmarshal(doc, &top) != nil || json.Unmarshal(top["data"], &res) != nil ||
			json.Unmarshal(res["attributes"], &attrs) != nil || json.Unmarshal(attrs["data"], &data) != nil {
			t.Fatalf("accepted a document without data: %q", doc)
		}
		want, derr := base64.StdEncoding.DecodeString(data)
		if derr != nil || !bytes.Equal(want, got) {
			t.Fatalf("data %.200q decoded to %.200q, want %.200q (%v)", data, got, want, derr)
		}
	})
}

// FuzzPatchDocument: never panics; an accepted patch changes something valid.
func FuzzPatchDocument(f *testing.F) {
	const id = "0b9f3a5e-2c1d-4e8f-9a7b-6c5d4e3f2a1b"
	for _, s := range []string{
		`{"data":{"type":"file","id":"` + id + `","attributes":{"duration":5184000,"additional":{"owner":"bob","x":null}}}}`,
		`{"data":{"type":"file","id":"` + id + `","attributes":{"duration":1.5}}}`,
		`{"data":{"type":"payment"}}`, `{"data":[]}`, `null`, `{"data":{"type":"file","id":7,"attributes":[]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, errs := decodePatch(doc, id, func() int64 { return 1 << 30 })
		for _, e := range errs {
			if e.Code == "" || api.Titles[e.Code] != e.Title {
				t.Fatalf("bad error %+v", e)
			}
		}
		if len(errs) == 0 {
			if p.Duration == nil && p.Additional == nil {
				t.Fatalf("accepted an empty patch %q", doc)
			}
			if p.Duration != nil && (*p.Duration < 1 || *p.Duration > 1<<30) {
				t.Fatalf("accepted duration %d", *p.Duration)
			}
			if len(p.Additional) > maxAdditionalKeys {
				t.Fatalf("accepted %d keys", len(p.Additional))
			}
		}
	})
}

// FuzzPaymentDocument: never panics; an accepted payment is well formed.
func FuzzPaymentDocument(f *testing.F) {
	for _, s := range []string{
		`{"data":{"type":"payment","attributes":{"file_id":"0b9f3a5e-2c1d-4e8f-9a7b-6c5d4e3f2a1b","status":"success","amount":0.000123456}}}`,
		`{"data":{"type":"file","attributes":{"file_id":"0b9f3a5e-2c1d-4e8f-9a7b-6c5d4e3f2a1b","status":"error"}}}`,
		`{"data":{"type":"payment","attributes":{"amount":-1e-10}}}`, `{"data":{"type":"payment","attributes":{"amount":"1"}}}`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, errs := decodePayment(doc)
		if len(errs) > 0 {
			return
		}
		if _, ok := parseID(p.FileID); !ok || p.Amount < 0 || (p.Status != api.PaymentSuccess && p.Status != api.PaymentError) {
			t.Fatalf("accepted %+v from %q", p, doc)
		}
	})
}
