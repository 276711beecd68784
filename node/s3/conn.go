package s3

import "github.com/ddsnet/dds/internal/httpguard"

// responseWriter is the stall-guarded writer with the S3 error code
// answered, for the metrics.
type responseWriter struct {
	*httpguard.ResponseWriter
	code string
}
