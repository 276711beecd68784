package client

import (
	"context"
	"net/http"

	"github.com/ddsnet/dds/api"
)

// RemoveMember ends a node's membership (POST /members/{peer_id}/removal)
// with a removal the network's admission key signed (billing.SignRemoval
// makes one). No token is sent: the signature is the authority.
func (c *Client) RemoveMember(ctx context.Context, peerID string, r api.Removal) error {
	body, n, err := jsonBody(api.Document[api.Removal]{Data: api.Resource[api.Removal]{
		Type: api.TypeRemoval, Attributes: r,
	}})
	if err != nil {
		return err
	}
	_, err = c.call(ctx, request{method: http.MethodPost, path: "/members/" + escape(peerID) + "/removal",
		body: body, length: n, ctype: api.MediaType}, nil)
	return err
}
