package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

type lsOptions struct {
	node     *nodeOptions
	pageSize int
	state    string
}

func lsCommand(fs *flagSet) runner { return lsFlags(fs).run }

func lsFlags(fs *flagSet) *lsOptions {
	o := &lsOptions{node: nodeFlags(fs)}
	fs.Int(&o.pageSize, "page-size", 100, 1, "files asked for per request (the node allows up to 1000)")
	fs.Choice(&o.state, "state", "", []string{"", api.StateQuoted, api.StateStoring, api.StateStored, api.StateExtensionQuoted,
		api.StateExpired, api.StateCancelled, api.StateDeleted}, "only the files in that state")
	return o
}

func (o *lsOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args); err != nil {
		return err
	}
	if o.node.apiKey == "" {
		return usagef("ls lists an account's files: it needs --api-key (or %s)", envName("api-key"))
	}
	c, err := o.node.client(a)
	if err != nil {
		return err
	}
	var all []client.File
	var tw *tabwriter.Writer
	if !o.node.json {
		tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tSIZE\tPRICE\tNAME")
	}
	seen := map[string]bool{}
	for after := ""; ; {
		page, next, err := c.FilesInState(ctx, o.state, after, o.pageSize)
		if err != nil {
			return fmt.Errorf("list files: %w", err)
		}
		for _, f := range page {
			if tw != nil {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.ID, f.State, f.Size, f.Price, f.Name)
			} else {
				all = append(all, f)
			}
		}
		if tw != nil {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if next == "" {
			break
		}
		if seen[next] {
			return fmt.Errorf("list files: the node repeated the cursor %q", next)
		}
		seen[next], after = true, next
	}
	if o.node.json {
		return printJSON(a.stdout, client.FileList(all))
	}
	return nil
}
