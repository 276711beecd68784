//go:build !linux

package chunk

// oDirect is 0 where direct I/O has no open flag: chunk files go through
// the page cache.
const oDirect = 0
