package chunk

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// statfs returns the size of the file system holding dir and the bytes
// an unprivileged writer may still use there (root may use the blocks the
// file system keeps back, but the store counts on them no more than any
// other writer).
func statfs(dir string) (total, avail int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, nil
}

// allocateFile allocates the blocks of path's holes, keeping its size.
func allocateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Blocks*512 >= fi.Size() {
		return nil // allocated already
	}
	const keepSize = 0x1 // FALLOC_FL_KEEP_SIZE
	err = syscall.Fallocate(int(f.Fd()), keepSize, 0, fi.Size())
	if errors.Is(err, syscall.EOPNOTSUPP) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fallocate %s: %w", path, err)
	}
	return nil
}

// allocate makes path a file of size bytes with all its blocks allocated.
func allocate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return noSpace(err)
}
