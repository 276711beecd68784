package s3

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dds", Subsystem: "s3", Name: "requests_total",
			Help: "S3 requests by operation and S3 error code (OK for success).",
		}, []string{"op", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "dds", Subsystem: "s3", Name: "request_duration_seconds",
			Help:    "Time to serve an S3 request, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"op"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dds", Subsystem: "s3", Name: "request_bytes_total",
			Help: "Bytes of request bodies read, by operation.",
		}, []string{"op"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dds", Subsystem: "s3", Name: "response_bytes_total",
			Help: "Bytes of response bodies written, by operation.",
		}, []string{"op"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.bytesIn, m.bytesOut} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one request. op and code come from fixed sets (the
// router's operations, the handler's error codes), so labels stay bounded.
func (m *metrics) observe(op, code string, in, out int64, d time.Duration) {
	m.requests.WithLabelValues(op, code).Inc()
	m.latency.WithLabelValues(op).Observe(d.Seconds())
	if in > 0 {
		m.bytesIn.WithLabelValues(op).Add(float64(in))
	}
	if out > 0 {
		m.bytesOut.WithLabelValues(op).Add(float64(out))
	}
}
