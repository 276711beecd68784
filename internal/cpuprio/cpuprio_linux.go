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

// Threads returns the nice value of each thread of process pid (0: this
// process), by thread id. Threads that end while it looks are left out.
func Threads(pid int) (map[int]int, error) {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list the threads of process %d: %w", pid, err)
	}
	m := make(map[int]int, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		n, err := get(tid)
		if errors.Is(err, unix.ESRCH) {
			continue // the thread has ended
		}
		if err != nil {
			return nil, err
		}
		m[tid] = n
	}
	return m, nil
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
		threads, err := Threads(0)
		if err != nil {
			return err
		}
		changed := false
		for tid, cur := range threads {
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
