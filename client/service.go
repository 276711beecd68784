package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/ddsnet/dds/api"
)

// Status returns the node's status (GET /status). A 503 "down" answer is
// returned as the Status (with its reason) together with an [*Error].
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/status"})
	if err != nil {
		return api.Status{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return api.Status{}, err
	}
	var st api.Status
	decodeErr := unwrapData(body, &st)
	if resp.StatusCode == http.StatusOK {
		return st, decodeErr
	}
	e := parseError(resp, body)
	if st.Status == "" && resp.StatusCode == http.StatusServiceUnavailable {
		st.Status = "down"
	}
	if st.Reason == "" && resp.StatusCode == http.StatusServiceUnavailable && len(e.Errors) > 0 {
		st.Reason = e.Errors[0].Detail
	}
	return st, e
}

// Info returns the node's service info (GET /info).
func (c *Client) Info(ctx context.Context) (api.Info, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/info"})
	if err != nil {
		return api.Info{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return api.Info{}, readError(resp)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	if err != nil {
		return api.Info{}, err
	}
	var info api.Info
	return info, unwrapData(body, &info)
}

// unwrapData decodes body into out, from the attributes of its primary
// data when body is a JSON:API document, else from the body itself.
func unwrapData(body []byte, out any) error {
	var doc struct {
		Data *struct {
			Attributes json.RawMessage `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err == nil && doc.Data != nil && len(doc.Data.Attributes) > 0 {
		body = doc.Data.Attributes
	}
	return decodeBody(bytes.NewReader(body), out)
}
