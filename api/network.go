package api

import "time"

// TypeNetwork is the resource type of GET /network.
const TypeNetwork = "network"

// Network is the attributes of GET /network: the network as the answering
// node sees it (the dashboard at / reads it). Its id is that node's peer id.
type Network struct {
	PeerID      string          `json:"peer_id"`
	Leader      string          `json:"leader"` // "" while the ledger has none
	LedgerIndex uint64          `json:"ledger_index"`
	Members     []NetworkMember `json:"members"`
	Node        NodeStats       `json:"node"`
	Events      []Event         `json:"events"` // newest first
}

// NetworkMember is one member of the network.
type NetworkMember struct {
	PeerID string `json:"peer_id"`
	Role   string `json:"role"` // "voter", "nonvoter" or "registered"
	HTTP   string `json:"http,omitempty"`
	Self   bool   `json:"self"`
	// Reachable: the answering node heard the member's status within the
	// peer timeout (or it is that node).
	Reachable bool `json:"reachable"`
	// The fields below come from the member's last status, absent when it
	// was never heard from.
	LastSeen    *time.Time `json:"last_seen,omitempty"`
	Capacity    *int64     `json:"capacity,omitempty"`
	Free        *int64     `json:"free,omitempty"`
	Stored      *int64     `json:"stored,omitempty"`
	LedgerIndex *uint64    `json:"ledger_index,omitempty"`
	Version     string     `json:"version,omitempty"`
	Uptime      *int64     `json:"uptime,omitempty"`     // seconds
	LatencyMS   *float64   `json:"latency_ms,omitempty"` // round trip
}

// NodeStats are the answering node's own figures.
type NodeStats struct {
	Capacity int64  `json:"capacity"`
	Free     int64  `json:"free"`
	Stored   int64  `json:"stored"`
	Version  string `json:"version"`
	Uptime   int64  `json:"uptime"` // seconds

	// HTTPBytesIn and HTTPBytesOut are the bytes of request and response
	// bodies of its HTTP API since it started.
	HTTPBytesIn  int64 `json:"http_bytes_in"`
	HTTPBytesOut int64 `json:"http_bytes_out"`
	// UploadBytes and ReadBytes are file bytes uploaded to it (and quoted)
	// and read from it.
	UploadBytes     int64   `json:"upload_bytes"`
	ReadBytes       int64   `json:"read_bytes"`
	Quotes          int64   `json:"quotes"`
	QuotesPerSecond float64 `json:"quotes_per_second"` // over about the last minute
	Attested        int64   `json:"attested"`
	HoldersReplaced int64   `json:"holders_replaced"`
	ChunkRepairs    int64   `json:"chunk_repairs"`
	AuditsFailed    int64   `json:"audits_failed"`
}

// Event is one thing that happened in the network as the answering node saw
// it: kind is holder_replaced, audit_failed, member_joined, member_removed,
// peer_gone or peer_back.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	Peer    string    `json:"peer,omitempty"`
	// File is the file's id, given only to a caller with the node's
	// billing token: a file's id is the capability to read it.
	File string `json:"file,omitempty"`
}
