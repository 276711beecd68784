package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// byteBar returns a progress bar of total bytes (-1: unknown) on stderr
// when stderr is a terminal, else nil.
func (a *app) byteBar(total int64, desc string) *progressbar.ProgressBar {
	if !a.terminal {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		// MiB, as every size dds prints: the bar's default is MB.
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionFullWidth(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }),
	)
}

// spinner returns a spinner with a description on stderr when stderr is a
// terminal, else nil.
func (a *app) spinner(desc string) *progressbar.ProgressBar {
	if !a.terminal {
		return nil
	}
	return progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }),
	)
}

// withBar counts what passes through r on bar (nil: no bar).
func withBar(r io.Reader, bar *progressbar.ProgressBar) io.Reader {
	if bar == nil {
		return r
	}
	return io.TeeReader(r, bar)
}

// finish completes bar (nil: nothing), leaving the line on success.
func finish(bar *progressbar.ProgressBar, ok bool) {
	if bar == nil {
		return
	}
	if ok {
		_ = bar.Finish()
		return
	}
	_ = bar.Exit()
}
