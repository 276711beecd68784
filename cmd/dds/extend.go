package main

import (
	"context"
	"fmt"
	"time"
)

type extendOptions struct {
	node     *nodeOptions
	duration int64
}

func extendCommand(fs *flagSet) runner { return extendFlags(fs).run }

func extendFlags(fs *flagSet) *extendOptions {
	o := &extendOptions{node: nodeFlags(fs)}
	fs.Seconds(&o.duration, "duration", 0, "the new total term, from the start of the current lease: a Go duration (1440h) or whole seconds")
	return o
}

func (o *extendOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args, "ID"); err != nil {
		return err
	}
	if o.duration <= 0 {
		return usagef("--duration is required and must be positive")
	}
	c, err := o.node.client(a)
	if err != nil {
		return err
	}
	f, err := c.Extend(ctx, args[0], o.duration)
	if err != nil {
		return fmt.Errorf("extend %s: %w", args[0], err)
	}
	if o.node.json {
		return printFile(a.stdout, true, f)
	}
	// The file keeps its current term until the quote is paid; the quote
	// is for the time between it and the new one.
	out := newFields(a.stdout)
	out.add("id", f.ID)
	out.add("state", f.State)
	out.add("current term", seconds(f.Duration))
	out.time("current end", f.ExpiresAt)
	out.add("new term", seconds(o.duration)+", from the lease's start")
	if f.ExpiresAt != nil && o.duration > f.Duration {
		end := f.ExpiresAt.Add(time.Duration(o.duration-f.Duration) * time.Second)
		out.time("new end", &end)
	}
	out.add("price", f.Price.String()+" tokens, for "+seconds(o.duration-f.Duration)+" more")
	out.time("quote expires", f.QuoteExpiresAt)
	if err := out.flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "pay with: dds pay %s --amount %s --billing-token TOKEN\n", f.ID, f.Price)
	return err
}
