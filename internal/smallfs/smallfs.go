// Package smallfs makes small file systems for tests of what the store
// and the node do when their disk is full: an ext4 image mounted through a
// loop device (the file system a node's data dir is likely to be on), or
// a tmpfs where loop devices are not at hand. Both need root; a test
// that cannot have either is skipped, saying why.
//
//	dir := smallfs.Mount(t, 256<<20)
//	filler := smallfs.Fill(t, dir, 1<<20) // leave 1 MiB free
//	...
//	os.Remove(filler) // space comes back
package smallfs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Mount mounts a new empty file system of about size bytes and returns its
// directory; the test's cleanup unmounts it (after the cleanups
// registered later, which close what uses it) and removes it.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("smallfs: mounting a small file system needs root")
	}
	base := t.TempDir()
	dir := filepath.Join(base, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	why := mountExt4(t, base, dir, size)
	if why != nil {
		t.Logf("smallfs: no loop-mounted ext4 (%v); using tmpfs", why)
		if err := run(t, "mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir); err != nil {
			t.Skipf("smallfs: cannot mount a small file system: ext4: %v; tmpfs: %v", why, err)
		}
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

func mountExt4(t testing.TB, base, dir string, size int64) error {
	img := filepath.Join(base, "fs.img")
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// -m 0: no blocks kept back for root, so that what statfs calls
	// available is what a write can take, for root (the tests) as for
	// anyone.
	if err := run(t, "mkfs.ext4", "-q", "-F", "-m", "0", img); err != nil {
		return err
	}
	return run(t, "mount", "-o", "loop", img, dir)
}

// unmount unmounts dir, retrying a busy one for a while and then
// detaching it lazily, so that a test never leaves a mount behind.
func unmount(t testing.TB, dir string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := run(t, "umount", dir)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("smallfs: unmount %s: %v; detaching it lazily", dir, err)
			_ = run(t, "umount", "-l", dir)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func run(t testing.TB, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return errors.New(err.Error() + ": " + string(out))
	}
	return nil
}

// Avail returns the bytes a write may still take on dir's file system.
func Avail(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// Fill takes all of dir's free space but leave bytes (or all of it, for
// leave 0) with a new file in dir, allocated (fallocate, no bytes
// written, so filling is quick); it returns the file's path. Removing the
// file gives the space back.
func Fill(t testing.TB, dir string, leave int64) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A file's own metadata takes blocks too: allocate, then grow in
	// smaller steps until what is left is at most leave.
	for step := int64(1 << 30); step >= 4<<10; {
		avail := Avail(t, dir)
		if avail <= leave {
			break
		}
		n := min(step, avail-leave)
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		err = syscall.Fallocate(int(f.Fd()), 0, fi.Size(), n)
		if errors.Is(err, syscall.ENOSPC) {
			step /= 2
			continue
		}
		if err != nil {
			t.Fatalf("smallfs: fill %s: %v", dir, err)
		}
	}
	return f.Name()
}
