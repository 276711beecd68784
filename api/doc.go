// Package api holds the wire types of the external HTTP API (spec/api.md),
// shared by the server ([github.com/ddsnet/dds/node/httpapi]) and the Go
// client ([github.com/ddsnet/dds/client]): JSON:API documents and resources,
// error documents and their codes, and exact token amounts ([Tokens]).
//
// Amounts travel as JSON numbers with at most 9 decimals and are held as
// integer nanotokens; they never pass through a float:
//
//	var t api.Tokens
//	_ = json.Unmarshal([]byte(`0.000123456`), &t) // t == 123456
//	b, _ := json.Marshal(t)                        // `0.000123456`
package api
