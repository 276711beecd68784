package wire

import (
	"testing"
	"time"
)

// BenchmarkCall measures a request/response round trip over a fresh
// stream between two hosts on loopback, one at a time and with 16 callers.
func BenchmarkCall(b *testing.B) {
	client, server := pair(b)
	handleEcho(server, 5*time.Second, nil)
	req := echoReq{Text: "0123456789abcdef0123456789abcdef0123456789abcdef"}
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			var resp echoResp
			if err := Call(b.Context(), client, server.ID(), echoProto, 5*time.Second, req, &resp, 1024); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var resp echoResp
				if err := Call(b.Context(), client, server.ID(), echoProto, 5*time.Second, req, &resp, 1024); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	})
}
