//go:build !linux

package cpuprio

import "errors"

// Get answers errors.ErrUnsupported: only Linux is supported.
func Get() (int, error) { return 0, errors.ErrUnsupported }

// Set answers errors.ErrUnsupported: only Linux is supported.
func Set(int) error { return errors.ErrUnsupported }

// Threads answers errors.ErrUnsupported: only Linux is supported.
func Threads(int) (map[int]int, error) { return nil, errors.ErrUnsupported }
