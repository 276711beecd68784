package cpuprio

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// passes bounds Set's looks at the process's threads.
const passes = 5

// Get returns the nice value of the calling thread: the process's, once Set
// has run.
func Get() (int, error) {
	return get(0)
}

// get is the nice value of thread tid (0: the calling thread). The raw
// system call answers 20 - nice.
func get(tid int) (int, error) {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return 0, fmt.Errorf("get the nice value of thread %d: %w", tid, err)
	}
	return 20 - p, nil
}

// Set gives every thread of the process the nice value nice. Linux keeps
// one per thread, and a new thread takes its creator's, so Set sets each
// thread listed in /proc/self/task and looks again until a pass changes
// none (the Go runtime may start a thread from one not yet set meanwhile).
// A lower value than a thread has needs CAP_SYS_NICE (or RLIMIT_NICE): the
// error then wraps unix.EACCES or unix.EPERM, and the threads set already
// keep what they were given.
func Set(nice int) error {
	for range passes {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("list the process's threads: %w", err)
		}
		changed := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cur, err := get(tid)
			if errors.Is(err, unix.ESRCH) {
				continue // the thread has exited
			}
			if err != nil {
				return err
			}
			if cur == nice {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue
				}
				return fmt.Errorf("set the nice value of thread %d to %d: %w", tid, nice, err)
			}
			changed = true
		}
		if !changed {
			return nil
		}
	}
	return nil
}
