package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// dashboardFile is the Grafana dashboard shipped for dds's metrics.
const dashboardFile = "../../deploy/grafana/dds.json"

// dashboardQueries returns every PromQL expression of the dashboard: the
// panels' targets and the template variables' queries.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && (k == "expr" || k == "query" || k == "definition") {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// metricName matches the metric names dds serves (its own, and the Go and
// process collectors'); label names and PromQL functions never start so.
var metricName = regexp.MustCompile(`\b(?:dds|go|process)_[a-zA-Z0-9_:]*`)

// TestGrafanaDashboardMetricsExist: every metric the shipped dashboard
// queries is one a daemon (with its S3 gateway) serves on /metrics, so the
// dashboard cannot drift from the metrics; dds_build_info says the version.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	used := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		for _, m := range metricName.FindAllString(q, -1) {
			used[m] = true
		}
	}
	if len(used) < 20 {
		t.Fatalf("the dashboard queries only %d metrics: %v", len(used), used)
	}

	d := startDaemon(t, t.TempDir(), "--s3-addr", "127.0.0.1:0")
	var s3 []string
	for deadline := time.Now().Add(5 * time.Second); s3 == nil; time.Sleep(20 * time.Millisecond) {
		s3 = regexp.MustCompile(`dds: s3 gateway (http://\S+)`).FindStringSubmatch(d.stderr.String())
		if s3 == nil && time.Now().After(deadline) {
			t.Fatalf("no S3 gateway address on stderr:\n%s", d.stderr)
		}
	}
	c := &http.Client{Timeout: 10 * time.Second}
	get := func(url string) string {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// One request to each server, so that their request metrics have a
	// series.
	get(d.url + "/status")
	get(s3[1] + "/")
	text := get(d.url + "/metrics")

	served := map[string]bool{}
	for line := range strings.Lines(text) {
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		served[name] = true
	}
	var missing []string
	for m := range used {
		if !served[m] {
			missing = append(missing, m)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard queries metrics the daemon does not serve: %v", missing)
	}
	if !regexp.MustCompile(`(?m)^dds_build_info\{commit="[^"]+",goversion="go[^"]+",version="[^"]+"\} 1$`).MatchString(text) {
		t.Errorf("no dds_build_info with commit, goversion and version:\n%s", grepLines(text, "dds_build_info"))
	}
	d.stop(t)
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
