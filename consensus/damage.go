package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/hashicorp/raft"
)

// Damage on disk: every entry the log store writes carries a checksum of
// the whole entry (index, term, type, data, extensions, append time), and
// every read checks it. raft-wal checks a CRC only when it opens the tail
// segment, and then only of the last batch, which it takes for a torn
// write and drops; an entry of a sealed segment is read back unchecked, so
// bytes damaged there reached the state machine, which refused them as a
// command that does not decode, and the node served a ledger missing that
// command (an operator's 64 random bytes made a paid file 404 on one node
// and not on the others).
//
// The checksum is the store's, computed over what this member appends,
// never carried in what the leader sends: bytes the leader appended that
// do not decode are the same on every replica, refused alike (see
// [StateMachine]), and a dishonest leader cannot make the others stop with
// them. Only what this member's disk changed fails the checksum.

// ErrDamaged reports a log entry whose stored bytes are not those written:
// the member's log is damaged and its state cannot be trusted. Errors
// that wrap it are [*DamageError]s.
var ErrDamaged = errors.New("raft log damaged")

// DamageError names the damaged entry and the log's directory.
type DamageError struct {
	Index uint64 // the entry that does not read back as written
	Dir   string // the log's directory (Config.Dir)
	Err   error  // what the read found
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("%v: entry %d in %s: %v. This member cannot replay its ledger: "+
		"stop it, move %s aside and start it again while its peers run: it restores its latest snapshot "+
		"and fetches the entries after it from them; a network of one member has no peers to fetch from: "+
		"restore the directory from a backup", ErrDamaged, e.Index, e.Dir, e.Err, e.Dir)
}

func (e *DamageError) Unwrap() []error { return []error{ErrDamaged, e.Err} }

// sumMagic opens the Extensions of an entry as stored: the magic, the
// entry's CRC-32C (little-endian), then the entry's own Extensions.
var sumMagic = []byte{0xdd, 's', 'u', 'm'}

const sumLen = 4 + 4

// sumsFromKey is the stable-store key of the first index whose entry
// carries a checksum: set when a log is first opened by this version, so
// that entries written before are read as they are, and an entry from
// there on without its checksum is damage (its magic was hit).
var sumsFromKey = []byte("dds/SumsFrom")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entrySum is the CRC-32C of every field of l that raft-wal stores, with
// ext in place of l.Extensions.
func entrySum(l *raft.Log, ext []byte) uint32 {
	var hdr [5*binary.MaxVarintLen64 + 12]byte
	b := binary.AppendUvarint(hdr[:0], l.Index)
	b = binary.AppendUvarint(b, l.Term)
	b = binary.AppendUvarint(b, uint64(l.Type))
	b = binary.BigEndian.AppendUint64(b, uint64(l.AppendedAt.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(l.AppendedAt.Nanosecond()))
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	sum := crc32.Update(0, castagnoli, b)
	sum = crc32.Update(sum, castagnoli, l.Data)
	sum = crc32.Update(sum, castagnoli, binary.AppendUvarint(hdr[:0], uint64(len(ext))))
	return crc32.Update(sum, castagnoli, ext)
}

// sealed returns a copy of l as the store writes it: its checksum in
// front of its Extensions. l itself is left alone (raft's log cache and
// its replication hold it).
func sealed(l *raft.Log) *raft.Log {
	c := *l
	ext := make([]byte, 0, sumLen+len(l.Extensions))
	ext = append(ext, sumMagic...)
	ext = binary.LittleEndian.AppendUint32(ext, entrySum(l, l.Extensions))
	c.Extensions = append(ext, l.Extensions...)
	return &c
}

// unseal checks the entry read at index and takes its checksum off.
// Entries before sumsFrom were written without one.
func unseal(index, sumsFrom uint64, l *raft.Log) error {
	if l.Index != index {
		return fmt.Errorf("the entry read says it is %d", l.Index)
	}
	if !bytes.HasPrefix(l.Extensions, sumMagic) || len(l.Extensions) < sumLen {
		if index < sumsFrom {
			return nil // written before checksums
		}
		return errors.New("its checksum is missing")
	}
	want := binary.LittleEndian.Uint32(l.Extensions[len(sumMagic):sumLen])
	ext := l.Extensions[sumLen:]
	if len(ext) == 0 {
		ext = nil // as raft-wal reads an empty one back
	}
	if got := entrySum(l, ext); got != want {
		return fmt.Errorf("checksum %08x, written %08x", got, want)
	}
	l.Extensions = ext
	return nil
}
