package client

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ddsnet/dds/api"
)

// Network returns the network as the node sees it (GET /network): its
// members and their reachability, the node's own figures, recent events.
func (c *Client) Network(ctx context.Context) (api.Network, error) {
	var doc api.Document[api.Network]
	if _, err := c.call(ctx, request{method: http.MethodGet, path: "/network"}, &doc); err != nil {
		return api.Network{}, err
	}
	if doc.Data.Type != api.TypeNetwork {
		return api.Network{}, fmt.Errorf("%w: GET /network answered a %q resource", ErrBadResponse, doc.Data.Type)
	}
	return doc.Data.Attributes, nil
}
