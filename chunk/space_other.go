//go:build !linux

package chunk

import "math"

// statfs is unknown here: the file system counts as unbounded, and only
// the writes' own errors (ErrNoSpace) say it is full.
func statfs(string) (total, avail int64, err error) {
	return math.MaxInt64, math.MaxInt64, nil
}

// allocateFile does nothing where fallocate is not at hand.
func allocateFile(string) error { return nil }

// allocate does nothing where fallocate is not at hand: there is no
// ballast.
func allocate(string, int64) error { return nil }
