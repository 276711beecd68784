package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

type peersOptions struct {
	node   *nodeOptions
	events bool
}

func peersCommand(fs *flagSet) runner {
	o := &peersOptions{node: nodeFlags(fs)}
	fs.Bool(&o.events, "events", "also print the recent events the node saw (holders replaced, audits failed, members joined, gone, back or removed)")
	return o.run
}

// run prints the network's members as the node sees them (GET /network).
func (o *peersOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args); err != nil {
		return err
	}
	c, err := o.node.client(a)
	if err != nil {
		return err
	}
	nw, err := c.Network(ctx)
	var apiErr *client.Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return fmt.Errorf("the node at %s has no network view (GET /network): it runs an older dds", o.node.node)
	}
	if err != nil {
		return err
	}
	if o.node.json {
		return printJSON(a.stdout, nw)
	}
	now := time.Now()
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER ID\tROLE\tSTATE\tHTTP\tLEDGER INDEX\tSTORED\tFREE\tLAST SEEN")
	for _, m := range nw.Members {
		role := m.Role
		switch {
		case m.PeerID == nw.Leader && m.Self:
			role += " (leader, this node)"
		case m.PeerID == nw.Leader:
			role += " (leader)"
		case m.Self:
			role += " (this node)"
		}
		state := "reachable"
		if !m.Reachable {
			state = "UNREACHABLE"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.PeerID, role, state, orDash(m.HTTP),
			optional(m.LedgerIndex, func(v uint64) string { return fmt.Sprint(v) }),
			optional(m.Stored, formatSize), optional(m.Free, formatSize), lastSeen(m, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\n%s\n", reachableSummary(nw))
	if o.events {
		fmt.Fprintln(a.stdout)
		if len(nw.Events) == 0 {
			fmt.Fprintln(a.stdout, "no events since the node started")
		}
		for _, e := range nw.Events {
			line := e.Time.Local().Format(time.DateTime) + "  " + e.Kind + "  " + e.Message
			if e.Peer != "" {
				line += "  peer " + e.Peer
			}
			if e.File != "" {
				line += "  file " + e.File
			}
			fmt.Fprintln(a.stdout, line)
		}
	}
	return nil
}

// reachableSummary says how many members the node reaches.
func reachableSummary(nw api.Network) string {
	up := 0
	for _, m := range nw.Members {
		if m.Reachable {
			up++
		}
	}
	return fmt.Sprintf("%d of %d members reachable", up, len(nw.Members))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// optional formats *v, or "-" when the node never heard it.
func optional[T any](v *T, format func(T) string) string {
	if v == nil {
		return "-"
	}
	return format(*v)
}

// lastSeen is when the node last heard m: now for itself.
func lastSeen(m api.NetworkMember, now time.Time) string {
	if m.Self {
		return "now"
	}
	return optional(m.LastSeen, func(t time.Time) string { return ago(now, t) })
}

// ago says how long before now t was, to the second.
func ago(now, t time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d <= 0 {
		return "now"
	}
	return d.String() + " ago"
}
