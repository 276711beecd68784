package chunk

import "errors"

// DefaultSize is the default chunk size (a network setting).
const DefaultSize int64 = 1 << 20

var (
	ErrNotFound        = errors.New("not found")
	ErrHashMismatch    = errors.New("hash mismatch") // bytes do not match their CID
	ErrTooLarge        = errors.New("too large")     // Ingest input exceeded maxSize
	ErrClosed          = errors.New("store closed")
	ErrInvalidManifest = errors.New("invalid manifest")
	ErrRange           = errors.New("range out of bounds")     // NewReader offset or length outside the file
	ErrChunkSize       = errors.New("chunk size out of range") // Ingest chunk size outside (0, MaxChunkSize]
	ErrIndexLost       = errors.New("chunk index lost")        // Open: chunk files without the index that records them
	// ErrNoSpace: the store's file system has no room for the write
	// beyond what the store keeps free (see Space), or the write failed
	// with ENOSPC or EDQUOT. Nothing the write began is kept.
	ErrNoSpace = errors.New("no space left for chunks")
)
