package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node/s3"
)

// BenchmarkS3ListObjects lists a bucket of 100,000 keys (DDS_BENCH_KEYS
// sets another count) through the S3 gateway of a --dev node (node/s3's
// handler over node.S3Store, served over HTTP on 127.0.0.1) with the AWS
// SDK's ListObjectsV2 paginator, pages of 1,000, and reports the time of
// each page (p50, max):
//
//   - all: the whole bucket, 100 pages;
//   - delim: delimiter "/" at the top: the 100,000 keys fold into 50
//     common prefixes on one page (the ledger seeks past each folded
//     prefix);
//   - prefix_delim: prefix "dir07/", delimiter "/": that folder's 2,000
//     keys, 2 pages.
//
// The keys are dir00/key000000 .. dir49/key099999, each a real object (a
// small dds file quoted, paid from the account's balance, stored, and
// named in the ledger), put in-process through node.S3Store.PutObject, 32
// at a time: over HTTP each would cost a request more and nothing the
// listing sees. The fill takes about a minute; its rate is logged. Run it
// once:
//
//	go test ./node -run '^$' -bench S3ListObjects -benchtime 1x
func BenchmarkS3ListObjects(b *testing.B) {
	keys := 100_000
	if s := os.Getenv("DDS_BENCH_KEYS"); s != "" {
		var err error
		if keys, err = strconv.Atoi(s); err != nil || keys < 1 {
			b.Fatalf("DDS_BENCH_KEYS=%q", s)
		}
	}
	n := startDev(b, b.TempDir(), SystemClock)
	ctx := b.Context()
	var served serverTimes
	c, by := s3BenchGateway(b, n, "lister", 1<<50, &served)
	bucket := "big"
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		b.Fatal(err)
	}
	fillStart := time.Now()
	fillBucket(b, n, by.Account, bucket, keys, 32)
	fill := time.Since(fillStart)
	b.Logf("filled %d keys in %v (%.0f objects/s)", keys, fill.Round(time.Millisecond), float64(keys)/fill.Seconds())

	type listing struct {
		name      string
		prefix    string
		delimiter string
		wantKeys  int
		pages     []time.Duration // as the SDK's paginator sees them
		server    []time.Duration // the gateway's handler alone
	}
	perDir := (keys + 49) / 50
	if keys < 50 {
		perDir = 1
	}
	ls := []*listing{
		{name: "all", wantKeys: keys},
		{name: "delim", delimiter: "/"},
		{name: "prefix_delim", prefix: "dir07/", delimiter: "/", wantKeys: min(perDir, max(keys-7, 0))},
	}
	b.ResetTimer()
	for range b.N {
		for _, l := range ls {
			in := &awss3.ListObjectsV2Input{Bucket: &bucket, MaxKeys: aws.Int32(1000)}
			if l.prefix != "" {
				in.Prefix = &l.prefix
			}
			if l.delimiter != "" {
				in.Delimiter = &l.delimiter
			}
			p := awss3.NewListObjectsV2Paginator(c, in)
			got, prefixes := 0, 0
			for p.HasMorePages() {
				start := time.Now()
				out, err := p.NextPage(ctx)
				if err != nil {
					b.Fatalf("%s: %v", l.name, err)
				}
				l.pages = append(l.pages, time.Since(start))
				l.server = append(l.server, served.last())
				got += len(out.Contents)
				prefixes += len(out.CommonPrefixes)
			}
			if l.delimiter == "" || l.prefix != "" {
				if got != l.wantKeys {
					b.Fatalf("%s: listed %d keys, want %d", l.name, got, l.wantKeys)
				}
			} else if prefixes != min(50, keys) {
				b.Fatalf("%s: %d common prefixes, want %d", l.name, prefixes, min(50, keys))
			}
		}
	}
	b.StopTimer()
	for _, l := range ls {
		slices.Sort(l.pages)
		slices.Sort(l.server)
		b.ReportMetric(float64(l.pages[len(l.pages)/2].Microseconds())/1e3, l.name+"_p50_ms/page")
		b.ReportMetric(float64(l.pages[len(l.pages)-1].Microseconds())/1e3, l.name+"_max_ms/page")
		b.ReportMetric(float64(l.server[len(l.server)/2].Microseconds())/1e3, l.name+"_server_p50_ms/page")
		b.ReportMetric(float64(l.server[len(l.server)-1].Microseconds())/1e3, l.name+"_server_max_ms/page")
		b.Logf("%s: %d pages, p50 %v, p90 %v, max %v; the handler alone p50 %v, p90 %v, max %v", l.name, len(l.pages),
			l.pages[len(l.pages)/2], l.pages[len(l.pages)*9/10], l.pages[len(l.pages)-1],
			l.server[len(l.server)/2], l.server[len(l.server)*9/10], l.server[len(l.server)-1])
	}
}

// fillBucket puts keys small objects into bucket through n's S3 storage,
// par at a time.
func fillBucket(b *testing.B, n *Node, account, bucket string, keys, par int) {
	b.Helper()
	st, err := n.S3()
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	var retries atomic.Int64
	for range par {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= keys || failed.Load() != nil {
					return
				}
				key := fmt.Sprintf("dir%02d/key%06d", i%50, i)
				body := []byte(key)
				// An apply that timed out (the ledger taking a snapshot)
				// is tried again, as a client would.
				var err error
				for try := 0; try < 3; try++ {
					if _, err = st.PutObject(context.Background(), account, bucket, key,
						s3.NewObjectInput(bytes.NewReader(body), int64(len(body)), s3.Meta{})); !errors.Is(err, s3.ErrUnavailable) {
						break
					}
					retries.Add(1)
				}
				if err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("put %s: %w", key, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	if r := retries.Load(); r > 0 {
		b.Logf("fill: %d puts tried again after an unavailable ledger", r)
	}
}

// serverTimes keeps how long the handler took over the last request.
type serverTimes struct{ ns atomic.Int64 }

func (s *serverTimes) last() time.Duration { return time.Duration(s.ns.Load()) }

// s3BenchGateway is s3Gateway for a benchmark: n's S3 storage served with
// node/s3's handler on 127.0.0.1, and an SDK client of a new account
// credited with balance nanotokens. served, if not nil, keeps the time
// of each request in the handler.
func s3BenchGateway(tb testing.TB, n *Node, name string, balance int64, served *serverTimes) (*awss3.Client, Caller) {
	tb.Helper()
	ctx := tb.Context()
	acc, key, err := n.OpenAccount(ctx, name)
	if err != nil {
		tb.Fatal(err)
	}
	if balance > 0 {
		if _, err := n.Pay(ctx, PaymentRequest{AccountID: acc.ID, Status: api.PaymentSuccess, Amount: balance}); err != nil {
			tb.Fatal(err)
		}
	}
	by := Caller{Account: acc.ID, APIKey: key}
	k, err := n.CreateS3Key(ctx, by)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := n.S3()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := s3.DefaultConfig()
	cfg.Backend, cfg.RateLimit, cfg.Logger = st, 0, slog.New(slog.DiscardHandler)
	h, err := s3.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	var handler http.Handler = h
	if served != nil {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			h.ServeHTTP(w, r)
			served.ns.Store(int64(time.Since(start)))
		})
	}
	srv := httptest.NewServer(handler)
	tb.Cleanup(srv.Close)
	c := awss3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.Secret, "")},
		func(o *awss3.Options) {
			o.BaseEndpoint = aws.String(srv.URL)
			o.UsePathStyle = true
			o.RetryMaxAttempts = 1
		})
	return c, by
}
