package httpapi

import (
	"fmt"
	"net/http"

	"github.com/ddsnet/dds/api"
)

// readyMaxBehind is how many committed ledger entries a node may have
// left to apply and still be ready. A healthy follower applies the log in
// batches of up to consensus.Config.MaxAppendEntries (256), so it is
// routinely that far behind for a moment; twice that is a node catching
// up (after a restart, a snapshot, a partition), whose answers would be
// stale.
const readyMaxBehind = 512

// handleHealth serves GET /healthz: liveness. It asks the node nothing, so
// it answers while the process serves HTTP, however the network is.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, "application/json", api.Health{Status: "ok"})
}

// readinessDown is the body of a 503 GET /readyz: the readiness and, as
// every 5xx, a JSON:API error list.
type readinessDown struct {
	api.Readiness
	Errors []api.Error `json:"errors"`
}

// handleReady serves GET /readyz: readiness to take writes, which needs
// the billing quorum (the node is up, see GET /status), the ledger caught
// up, and room for chunks.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	st := s.svc.Status(r.Context())
	body := api.Readiness{Status: "ready", Behind: st.Behind}
	switch {
	case !st.Up:
		body.Reason = st.Reason
		if body.Reason == "" {
			body.Reason = "the node cannot serve writes now"
		}
	case st.Behind > readyMaxBehind:
		body.Reason = fmt.Sprintf("the ledger is catching up: %d committed entries not applied yet", st.Behind)
	case st.DiskFull:
		body.Reason = "the node's disk has no room for uploads"
	default:
		s.writeJSON(w, r, http.StatusOK, "application/json", body)
		return
	}
	body.Status = "unready"
	w.Header().Set("Retry-After", "1")
	s.writeJSON(w, r, http.StatusServiceUnavailable, api.MediaType, readinessDown{Readiness: body, Errors: []api.Error{
		newError(http.StatusServiceUnavailable, api.CodeUnavailable, body.Reason, nil)}})
}
