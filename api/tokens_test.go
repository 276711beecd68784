package api

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseTokens(t *testing.T) {
	tests := []struct {
		in   string
		want Tokens
		err  error
	}{
		{"0", 0, nil},
		{"1", NanoPerToken, nil},
		{"0.000123456", 123456, nil},
		{"0.000000001", 1, nil},
		{"1.5", 1_500_000_000, nil},
		{"1.500000000000", 1_500_000_000, nil},
		{"1e-9", 1, nil},
		{"2.5E2", 250 * NanoPerToken, nil},
		{"1e+3", 1000 * NanoPerToken, nil},
		{"9223372036.854775807", 9223372036854775807, nil},
		{"9223372036.854775808", 0, ErrAmountTooLarge},
		{"1e30", 0, ErrAmountTooLarge},
		{"0.0000000001", 0, ErrTooPrecise},
		{"1e-10", 0, ErrTooPrecise},
		{"-1", 0, ErrNegative},
		{"-0.5", 0, ErrNegative},
		{"-abc", 0, ErrNotNumber},
		{"", 0, ErrNotNumber},
		{"abc", 0, ErrNotNumber},
		{"01", 0, ErrNotNumber},
		{"1.", 0, ErrNotNumber},
		{".5", 0, ErrNotNumber},
		{"1e", 0, ErrNotNumber},
		{"\"1\"", 0, ErrNotNumber},
		{"null", 0, ErrNotNumber},
		{"true", 0, ErrNotNumber},
		{"1e99999", 0, ErrAmountTooLarge},
	}
	for _, tt := range tests {
		got, err := ParseTokens(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("ParseTokens(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestTokensJSONRoundTrip(t *testing.T) {
	for _, v := range []Tokens{0, 1, 123456, NanoPerToken, 1_500_000_000, 9223372036854775807} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back Tokens
		if err := json.Unmarshal(b, &back); err != nil || back != v {
			t.Errorf("round trip %d via %s = %d, %v", v, b, back, err)
		}
	}
	if s := Tokens(123456).String(); s != "0.000123456" {
		t.Errorf("String = %q", s)
	}
	var p struct {
		Amount Tokens `json:"amount"`
	}
	if err := json.Unmarshal([]byte(`{"amount": "1"}`), &p); err == nil {
		t.Error("string amount accepted")
	}
}

func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{"0", "1.5", "0.000123456", "1e-9", "-1", "1e30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseTokens(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("negative result %d for %q", v, s)
		}
		back, err := ParseTokens(v.String())
		if err != nil || back != v {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, v, v.String(), back, err)
		}
	})
}
