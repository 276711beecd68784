package main

import (
	"strconv"
	"testing"
)

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"10GiB", "500MB", "1048576", "1.5GiB", "10QB", "0.5B", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
		if back, err := parseSize(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("%q -> %d -> %d, %v", s, n, back, err)
		}
	})
}

func FuzzParseSeconds(f *testing.F) {
	for _, s := range []string{"720h", "2592000", "1.5s", "-1h", "1h30m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSeconds(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("parseSeconds(%q) = %d", s, n)
		}
		if back, err := parseSeconds(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("%q -> %d -> %d, %v", s, n, back, err)
		}
	})
}
