package chunk

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

const crashEnv = "DDS_CHUNK_CRASH_DIR"

// TestCrash runs a child process (this test binary) that ingests, pins and
// unpins in a loop with GC running, kills it with SIGKILL at a random
// moment, reopens the store and checks its invariants; a few rounds on the
// same directory.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	acked := make(map[string]string) // owner -> root ("-" for none), as acknowledged
	for round := range 8 {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrash$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, "DDS_CHUNK_CRASH_ROUND="+strconv.Itoa(round))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rng.IntN(6)
		delay := time.Duration(rng.IntN(30_000)) * time.Microsecond
		inflight := ""
		done := 0
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "begin":
				inflight = f[1]
			case len(f) == 3 && f[0] == "done":
				acked[f[1]] = f[2]
				inflight = ""
				done++
				if done == killAfter {
					go func() {
						time.Sleep(delay)
						cmd.Process.Kill() // SIGKILL
					}()
				}
			}
		}
		cmd.Wait()
		if done < killAfter {
			t.Fatalf("round %d: child exited after %d operations", round, done)
		}

		s := openInline(t, dir) // as the child: DefaultOptions
		checkConsistent(t, s)
		pins, err := s.Pins(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		for owner, root := range acked {
			if owner == inflight {
				continue // either outcome is right for the operation the kill interrupted
			}
			got := "-"
			if c, ok := pins[owner]; ok {
				got = c.String()
			}
			if got != root {
				t.Fatalf("round %d: owner %s pinned to %s, acknowledged %s", round, owner, got, root)
			}
		}
		if inflight != "" {
			if c, ok := pins[inflight]; ok {
				acked[inflight] = c.String()
			} else {
				acked[inflight] = "-"
			}
		}
		// GC sweeps what the kill left in the blocks directory (temporary
		// files, files whose record never committed) and nothing else.
		if _, err := s.GC(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkFiles(t, s)
		checkConsistent(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d operations + %v; %d pins", round, done, delay, len(pins))
	}
}

// crashChild is the child side of TestCrash: it never returns normally.
func crashChild(dir string) {
	round, _ := strconv.Atoi(os.Getenv("DDS_CHUNK_CRASH_ROUND"))
	s, err := Open(DefaultOptions(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	go func() {
		for {
			if _, err := s.GC(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "child gc:", err)
				os.Exit(2)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var big cid.Cid // the last large file ingested
	for i := 0; ; i++ {
		owner := fmt.Sprintf("o%d", i%5)
		fmt.Printf("begin %s\n", owner)
		root := "-"
		seed := uint64(round*1_000_000 + i)
		switch {
		case i%4 == 3:
			err = s.Unpin(ctx, owner)
		case i%4 == 2 && big.Defined():
			// A pure pin of several batches, replacing the owner's root.
			err = s.Pin(ctx, owner, big)
			root = big.String()
		case i%4 == 1:
			big, _, err = s.Ingest(ctx, bytes.NewReader(randBytes(seed, 2500*32)), owner, 32, 0)
			root = big.String()
		default:
			// Chunks of 4 KiB in files, a tail inline (DefaultOptions).
			chunkSize, n := int64(4096), 1+int(seed%37)*1000
			if i%8 == 4 { // a larger file: 64 KiB chunks
				chunkSize, n = 64<<10, 1<<20+int(seed%37)*1000
			}
			data := randBytes(seed, n)
			if i%3 == 2 { // share chunks with earlier files
				data = bytes.Repeat(randBytes(uint64(i%2), int(chunkSize)), 3)
			}
			var c cid.Cid
			c, _, err = s.Ingest(ctx, bytes.NewReader(data), owner, chunkSize, 0)
			root = c.String()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		fmt.Printf("done %s %s\n", owner, root)
	}
}
