package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

type statusOptions struct{ node *nodeOptions }

func statusCommand(fs *flagSet) runner {
	o := &statusOptions{node: nodeFlags(fs)}
	return o.run
}

// run prints the status and the info; a node that is down prints its
// status and exits 1.
func (o *statusOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args); err != nil {
		return err
	}
	c, err := o.node.client(a)
	if err != nil {
		return err
	}
	st, statusErr := c.Status(ctx)
	var apiErr *client.Error
	if statusErr != nil && !(errors.As(statusErr, &apiErr) && st.Status != "") {
		return fmt.Errorf("status: %w", statusErr)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if o.node.json {
		if err := printJSON(a.stdout, struct {
			Status api.Status `json:"status"`
			Info   api.Info   `json:"info"`
		}{st, info}); err != nil {
			return err
		}
		return statusErr
	}
	out := newFields(a.stdout)
	out.add("status", st.Status)
	if st.Reason != "" {
		out.add("reason", st.Reason)
	}
	if st.Leader != "" {
		out.add("leader", st.Leader)
	}
	if st.Index != 0 {
		out.add("ledger index", st.Index)
	}
	// Which members the node reaches (dds peers shows them); a node
	// without GET /network says nothing of them.
	if nw, err := c.Network(ctx); err == nil && len(nw.Members) > 0 {
		out.add("members", reachableSummary(nw)+" (dds peers)")
	}
	out.add("name", info.Name)
	out.add("version", info.Version)
	out.add("peer id", info.PeerID)
	for _, addr := range info.Addrs {
		out.add("listen", addr)
	}
	if info.Dev {
		out.add("mode", "dev (a network of one)")
	}
	out.add("replicas", info.Replicas)
	out.add("capacity", bytesText(info.Capacity))
	out.add("free", bytesText(info.Free))
	out.add("stored", bytesText(info.Stored))
	out.add("max upload", bytesText(info.MaxUpload))
	out.add("chunk size", bytesText(info.ChunkSize))
	out.add("rate", info.Prices.Rate.String()+" tokens per GiB-month per replica")
	out.add("minimum price", info.Prices.MinimumPrice.String()+" tokens")
	out.add("quote lifetime", seconds(info.Prices.QuoteLifetime))
	if info.Prices.MaxTerm > 0 {
		out.add("max term", seconds(info.Prices.MaxTerm))
	}
	if info.Threshold > 0 {
		out.add("attestations", info.Threshold)
	}
	for _, m := range info.Quorum {
		desc := []string{m.PeerID, m.Role}
		if m.HTTP != "" {
			desc = append(desc, m.HTTP)
		}
		out.add("quorum", strings.Join(desc, " "))
	}
	if err := out.flush(); err != nil {
		return err
	}
	return statusErr
}
