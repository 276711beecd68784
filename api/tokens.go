package api

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// NanoPerToken is the number of nanotokens in one token.
const NanoPerToken = 1_000_000_000

// Token amount errors.
var (
	ErrNotNumber      = errors.New("not a number")
	ErrNegative       = errors.New("negative amount")
	ErrTooPrecise     = errors.New("more than 9 decimals")
	ErrAmountTooLarge = errors.New("amount too large")
)

// Tokens is an amount of money in integer nanotokens. On the wire it is a
// JSON number of tokens with at most 9 decimals (0.000123456), converted
// exactly, never through a float.
type Tokens int64

// ParseTokens parses a decimal token amount ("1", "0.5", "1.000000001",
// "1e-3", "2.5E2") into nanotokens exactly. Negative amounts, more than 9
// significant decimals and anything that is not a JSON number are refused.
func ParseTokens(s string) (Tokens, error) {
	if s == "" {
		return 0, ErrNotNumber
	}
	if s[0] == '-' {
		if _, err := parseNumber(s[1:]); err != nil {
			return 0, err
		}
		return 0, ErrNegative
	}
	return parseNumber(s)
}

// parseNumber parses an unsigned JSON number (RFC 8259 grammar).
func parseNumber(s string) (Tokens, error) {
	mant, exp, hasExp := s, "", false
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp, hasExp = s[:i], s[i+1:], true
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
		if frac == "" {
			return 0, ErrNotNumber
		}
	}
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, ErrNotNumber
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return 0, ErrNotNumber
	}
	e := 0
	if hasExp {
		sign := 1
		if exp != "" && (exp[0] == '+' || exp[0] == '-') {
			if exp[0] == '-' {
				sign = -1
			}
			exp = exp[1:]
		}
		if exp == "" || !allDigits(exp) {
			return 0, ErrNotNumber
		}
		if len(exp) > 4 {
			return 0, ErrAmountTooLarge // also catches absurd negative exponents
		}
		n, _ := strconv.Atoi(exp)
		e = sign * n
	}
	// value = digits × 10^(e - len(frac)); we want nanotokens = value × 10^9.
	digits := strings.TrimLeft(intPart+frac, "0")
	shift := e - len(frac) + 9
	// Drop trailing zeros of the digits into the shift so "1.500000000000" is fine.
	for len(digits) > 0 && digits[len(digits)-1] == '0' && shift < 0 {
		digits = digits[:len(digits)-1]
		shift++
	}
	if digits == "" {
		return 0, nil
	}
	if shift < 0 {
		return 0, ErrTooPrecise
	}
	if len(digits)+shift > 19 {
		return 0, ErrAmountTooLarge
	}
	n, err := strconv.ParseUint(digits+strings.Repeat("0", shift), 10, 64)
	if err != nil || n > math.MaxInt64 {
		return 0, ErrAmountTooLarge
	}
	return Tokens(n), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats t in tokens with no trailing zeros: 123456 -> "0.000123456".
func (t Tokens) String() string {
	n := int64(t)
	sign := ""
	if n < 0 {
		sign = "-"
		if n == math.MinInt64 {
			return "-9223372036.854775808"
		}
		n = -n
	}
	whole, frac := n/NanoPerToken, n%NanoPerToken
	if frac == 0 {
		return sign + strconv.FormatInt(whole, 10)
	}
	f := strings.TrimRight(fmt.Sprintf("%09d", frac), "0")
	return sign + strconv.FormatInt(whole, 10) + "." + f
}

// MarshalJSON writes t as a JSON number of tokens.
func (t Tokens) MarshalJSON() ([]byte, error) {
	return []byte(t.String()), nil
}

// UnmarshalJSON reads a JSON number of tokens exactly (see [ParseTokens]).
// A string, null or any other JSON value is refused with [ErrNotNumber].
func (t *Tokens) UnmarshalJSON(b []byte) error {
	v, err := ParseTokens(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	*t = v
	return nil
}
