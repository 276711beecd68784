package main

import (
	"github.com/prometheus/client_golang/prometheus"
)

// buildInfoMetric is dds_build_info: 1, labelled with what the binary is
// (readBuildInfo), as Prometheus' own *_build_info metrics, so a query can
// join any series with the version that produced it.
func buildInfoMetric(version string) prometheus.Collector {
	b := readBuildInfo(version)
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "dds_build_info",
		Help:        "1, labelled with the binary's version, the commit it was built from and the Go version.",
		ConstLabels: prometheus.Labels{"version": version, "commit": b.revision("unknown", "-dirty"), "goversion": b.Go},
	}, func() float64 { return 1 })
}
