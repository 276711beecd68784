// Package client is the Go client of the dds external HTTP API
// (spec/api.md). The dds command is one of its users; tests and benchmarks
// are others.
//
// Create a [Client] for any node of a network with [New], then upload,
// pay, wait and download:
//
//	c, err := client.New("http://127.0.0.1:7070", client.WithBillingToken(token))
//	if err != nil { ... }
//	f, err := c.Upload(ctx, file, client.UploadOptions{Name: "report.pdf", Size: size})
//	if err != nil { ... }
//	// f.State == api.StateQuoted and f.Price is the agreed price.
//	if _, err := c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, uuid.NewString()); err != nil { ... }
//	f, err = c.WaitState(ctx, f.ID, nil, api.StateStored)
//	body, n, err := c.Download(ctx, f.ID, 0, -1)
//
// The server's 402 Payment Required is the normal answer to an upload or an
// extension: [Client.Upload], [Client.UploadJSON] and [Client.Extend] return
// it as the [File] with its quote, not as an error. Every other non-2xx
// answer is an [*Error] holding the HTTP status, the JSON:API error objects
// and the Retry-After delay; [IsCode] tests its error code:
//
//	if client.IsCode(err, api.CodeNotFound) { ... }
//
// Amounts are exact [api.Tokens] (integer nanotokens) end to end.
package client
