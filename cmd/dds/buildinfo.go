package main

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// commit is the source revision the binary was built from; set with
// -ldflags "-X main.commit=...", else taken from the build info (go build
// in a git checkout records it).
var commit = ""

// buildCommit returns commit, the build info's vcs.revision (with
// "-dirty" when the tree had changes), or "unknown".
func buildCommit() string {
	if commit != "" {
		return commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// buildInfo is dds_build_info: 1, labelled with what the binary is, as
// Prometheus' own *_build_info metrics, so a query can join any series
// with the version that produced it.
func buildInfo(version string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dds_build_info",
		Help: "1, labelled with the binary's version, the commit it was built from and the Go version.",
		ConstLabels: prometheus.Labels{
			"version": version, "commit": buildCommit(), "goversion": runtime.Version(),
		},
	}, func() float64 { return 1 })
}
