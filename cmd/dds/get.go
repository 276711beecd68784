package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"
)

type getOptions struct {
	node   *nodeOptions
	output string
}

func getCommand(fs *flagSet) runner { return getFlags(fs).run }

func getFlags(fs *flagSet) *getOptions {
	o := &getOptions{node: nodeFlags(fs)}
	d := fs.String(&o.output, "output", "", "FILE", `write to FILE (through a temporary file renamed on success); none or "-": stdout`)
	fs.Alias(d, "o")
	return o
}

func (o *getOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args, "ID"); err != nil {
		return err
	}
	c, err := o.node.client(a)
	if err != nil {
		return err
	}
	id := args[0]
	body, length, err := c.Download(ctx, id, 0, -1)
	if err != nil {
		return fmt.Errorf("download %s: %w", id, err)
	}
	defer body.Close()
	var r io.Reader = body
	if o.output == "" && a.stdoutTerminal {
		// As curl does: binary on a terminal is garbage, and may set the
		// terminal's modes. "-o -" says it is meant.
		br := bufio.NewReaderSize(body, 4096)
		if head, _ := br.Peek(4096); isBinary(head) {
			return fmt.Errorf("file %s is binary and stdout is a terminal: save it with -o FILE or > FILE, or print it anyway with -o -", id)
		}
		r = br
	}
	bar := a.byteBar(length, "downloading")
	if o.output == "" || o.output == "-" {
		n, err := io.Copy(a.stdout, withBar(r, bar))
		if err == nil && length >= 0 && n != length {
			err = fmt.Errorf("got %d of %d bytes", n, length)
		}
		finish(bar, err == nil)
		if err != nil {
			return fmt.Errorf("download %s: %w", id, err)
		}
		return nil
	}
	n, err := saveFile(o.output, withBar(body, bar), length)
	finish(bar, err == nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", id, err)
	}
	if o.node.json {
		return printJSON(a.stdout, map[string]any{"id": id, "path": o.output, "size": n})
	}
	_, err = fmt.Fprintf(a.stdout, "%s: %s\n", o.output, bytesText(n))
	return err
}

// saveFile writes r to path through a temporary file in the same
// directory, renamed over path once everything (length bytes, if known)
// is written and synced: a failed download leaves nothing.
func saveFile(path string, r io.Reader, length int64) (n int64, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.part")
	if err != nil {
		return 0, fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err = io.Copy(tmp, r)
	if err != nil {
		return n, err
	}
	if length >= 0 && n != length {
		return n, fmt.Errorf("got %d of %d bytes", n, length)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return n, err
	}
	if err := tmp.Sync(); err != nil {
		return n, err
	}
	if err := tmp.Close(); err != nil {
		return n, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("rename into place: %w", err)
	}
	return n, nil
}

// isBinary reports whether head, the start of a file, is not text: it holds a
// NUL byte or is not UTF-8 (a rune cut at the end of head aside).
func isBinary(head []byte) bool {
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	for cut := 0; cut < utf8.UTFMax && cut <= len(head); cut++ {
		if utf8.Valid(head[:len(head)-cut]) {
			return false
		}
	}
	return true
}
