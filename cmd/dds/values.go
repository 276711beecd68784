package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ddsnet/dds/api"
)

// sizeUnits are the units parseSize knows, in bytes, by lower-case name.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "tib": 1 << 40,
	"p": 1e15, "pb": 1e15, "pib": 1 << 50,
}

// parseSize parses a byte size: a whole or decimal number with an optional
// unit, SI (kB, MB, GB, TB, PB: powers of 1000) or IEC (KiB, MiB, GiB,
// TiB, PiB: powers of 1024), case-insensitive: "10GiB", "500MB", "1048576",
// "1.5GiB". The result must be a whole number of bytes.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok || strings.Count(num, ".") > 1 || strings.HasPrefix(num, ".") || strings.HasSuffix(num, ".") {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("invalid size %q: not a whole number of bytes", s)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return r.Num().Int64(), nil
}

// formatSize writes n bytes with an IEC unit: 1536 -> "1.5 KiB".
func formatSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n), -1
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return strconv.FormatFloat(math.Floor(v*10)/10, 'f', -1, 64) + " " + units[u]
}

// goDuration is the form of a Go duration, whatever its size.
var goDuration = regexp.MustCompile(`^[0-9]*\.?[0-9]+(ns|us|µs|μs|ms|s|m|h)([0-9]*\.?[0-9]+(ns|us|µs|μs|ms|s|m|h))*$`)

// tooLong names the maxima a term is bound by.
const tooLong = "too long: a term is at most the network's maximum term (dds status shows it; 10 years by default), and a duration at most 2562047h"

// parseSeconds parses a duration as a Go duration ("720h", "90m") or a
// whole number of seconds ("2592000") into whole seconds. Negative,
// sub-second and non-whole-second values are refused.
func parseSeconds(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t != "" && strings.Trim(t, "0123456789") == "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %s", s, tooLong)
		}
		return n, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		// time.ParseDuration says "invalid duration" of an overflow too.
		if goDuration.MatchString(t) {
			return 0, fmt.Errorf("invalid duration %q: %s", s, tooLong)
		}
		return 0, fmt.Errorf("invalid duration %q: want a Go duration (720h) or whole seconds", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("invalid duration %q: not a whole number of seconds", s)
	}
	return int64(d / time.Second), nil
}

// parseDate checks a yyyymmdd day.
func parseDate(s string) (string, error) {
	if len(s) != 8 {
		return "", fmt.Errorf("invalid date %q: want yyyymmdd", s)
	}
	if _, err := time.Parse("20060102", s); err != nil {
		return "", fmt.Errorf("invalid date %q: want yyyymmdd", s)
	}
	return s, nil
}

// The flag values. Each keeps a pointer to its destination.

type stringValue struct{ p *string }

func (v stringValue) String() string     { return *v.p }
func (v stringValue) Set(s string) error { *v.p = s; return nil }

type boolValue struct{ p *bool }

func (v boolValue) String() string   { return strconv.FormatBool(*v.p) }
func (v boolValue) IsBoolFlag() bool { return true }
func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("invalid boolean %q", s)
	}
	*v.p = b
	return nil
}

type intValue struct {
	p   *int
	min int
}

func (v intValue) String() string { return strconv.Itoa(*v.p) }
func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("invalid number %q", s)
	}
	if n < v.min {
		return fmt.Errorf("invalid number %q: at least %d", s, v.min)
	}
	*v.p = n
	return nil
}

type sizeValue struct{ p *int64 }

func (v sizeValue) String() string { return strconv.FormatInt(*v.p, 10) }
func (v sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("invalid size %q: must be positive", s)
	}
	*v.p = n
	return nil
}

type secondsValue struct{ p *int64 }

func (v secondsValue) String() string { return strconv.FormatInt(*v.p, 10) }
func (v secondsValue) Set(s string) error {
	n, err := parseSeconds(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

type durationValue struct{ p *time.Duration }

func (v durationValue) String() string { return v.p.String() }
func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return fmt.Errorf("invalid duration %q", s)
	}
	*v.p = d
	return nil
}

// listValue is a repeatable flag; the first value given replaces the default.
type listValue struct {
	p   *[]string
	set bool
}

func (v *listValue) String() string { return strings.Join(*v.p, ",") }
func (v *listValue) Set(s string) error {
	if !v.set {
		*v.p, v.set = nil, true
	}
	if strings.TrimSpace(s) == "" {
		return errors.New("empty value")
	}
	*v.p = append(*v.p, strings.TrimSpace(s))
	return nil
}

type tokensValue struct {
	p   *api.Tokens
	set *bool
}

func (v tokensValue) String() string { return v.p.String() }
func (v tokensValue) Set(s string) error {
	t, err := api.ParseTokens(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("invalid amount %q: %w", s, err)
	}
	*v.p, *v.set = t, true
	return nil
}

type dateValue struct{ p *string }

func (v dateValue) String() string { return *v.p }
func (v dateValue) Set(s string) error {
	d, err := parseDate(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	*v.p = d
	return nil
}

type choiceValue struct {
	p       *string
	choices []string
}

func (v choiceValue) String() string { return *v.p }
func (v choiceValue) Set(s string) error {
	if !slices.Contains(v.choices, s) {
		return fmt.Errorf("invalid value %q: want one of %s", s, strings.Join(v.choices, ", "))
	}
	*v.p = s
	return nil
}

// objectValue is a JSON object of additional attributes.
type objectValue struct{ p *map[string]json.RawMessage }

func (v objectValue) String() string {
	if len(*v.p) == 0 {
		return ""
	}
	b, _ := json.Marshal(*v.p)
	return string(b)
}

func (v objectValue) Set(s string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return fmt.Errorf("invalid JSON object %q", s)
	}
	*v.p = m
	return nil
}
