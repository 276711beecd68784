package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/testnet"
)

// BenchmarkS3VersusJSONAPI puts the same bytes (DDS_BENCH_SIZE, 1 GiB by
// default, generated as they are sent) through node0 of a network of four
// `dds daemon --s3-addr` processes (3 replicas) both ways, and reads them
// back from node0 and from the node that holds no copy:
//
//   - the JSON:API: POST /files streamed (client.Upload), paid, waited
//     for until stored (what an S3 PutObject waits for before it
//     answers); json_upload_MB/s is the upload alone, json_put_MB/s up to
//     stored; GET /files/{id} from node0 and from the other node;
//   - the gateway, with the AWS SDK (aws-sdk-go-v2) over plain HTTP:
//     PutObject as the SDK sends it by default (it reads the body once
//     ahead to compute its SHA-256, signed as x-amz-content-sha256, and
//     its CRC-32, sent as x-amz-checksum-crc32, then rewinds and sends
//     it: s3_put), PutObject with UNSIGNED-PAYLOAD and no checksum (the
//     gateway then only computes the ETag's MD5: s3_put_unsigned), a
//     multipart upload in 64 MiB parts one after another (s3_mpu_seq) and
//     4 at a time (s3_mpu_par4), each up to the complete
//     answer; GetObject of the PutObject's object from node0 and from the
//     other node; and as aws-cli moves a large file by default, a
//     multipart upload in 8 MiB parts 10 at a time (s3_mpu_cli) read back
//     from node0 in ranges of 8 MiB 10 at a time (s3_get_ranges).
//
// Each figure is MB/s (1e6 bytes a second), averaged over the iterations,
// which alternate the order of the two ways; ratio_* is the gateway's
// over the JSON:API's. s3_put_sent and s3_mpu_seq_sent leave out the time
// the SDK spends reading each signed body ahead to hash it (the client's
// work, not the gateway's). The gateway node's RSS (VmRSS sampled every
// 100 ms) is reported before the first upload (idle) and at its peak
// through each upload. Run it with:
//
//	go test ./cmd/dds -run '^$' -bench S3VersusJSONAPI -benchtime 2x
//
// (the testing package runs it once with b.N = 1 first, in a network of
// its own, then the reported run with b.N = 2: about 4 minutes on 2
// cores). With DDS_BENCH_STDERR=1 it logs the daemons' stderr, which
// GODEBUG=gctrace=1 fills with their heap at each GC.
func BenchmarkS3VersusJSONAPI(b *testing.B) {
	if testing.Short() {
		b.Skip("a 4-process network and GiBs of data")
	}
	size := benchEnv(b, "DDS_BENCH_SIZE", 1<<30, 1<<20)
	const partSize = 64 << 20
	ctx, cancel := context.WithTimeout(b.Context(), 60*time.Minute)
	defer cancel()
	stderr := &lockedBuffer{}
	nw, err := testnet.StartProcesses(ctx, testnet.ProcessOptions{
		Binary: ddsBinary(b), Nodes: 4, Dir: b.TempDir(), Stderr: stderr,
		ExtraArgs: []string{"--log-level", "warn", "--s3-addr", "127.0.0.1:0"},
	})
	if err != nil {
		b.Fatalf("start the network: %v\n%s", err, stderr)
	}
	b.Cleanup(func() {
		if err := nw.Stop(); err != nil {
			b.Errorf("stop the network: %v", err)
		}
	})
	bench := newS3Bench(ctx, b, nw, stderr)
	gw := nw.Nodes[0]
	idle := readMemory(gw.PID).rss

	sum := map[string]time.Duration{}
	peak := map[string]int64{}
	// timed runs fn as measure name, sampling the gateway's RSS.
	timed := func(name string, fn func()) {
		stop := make(chan struct{})
		rss := sampleRSS(gw.PID, 100*time.Millisecond, stop)
		start := time.Now()
		fn()
		sum[name] += time.Since(start)
		close(stop)
		peak[name] = max(peak[name], <-rss)
	}
	var runs int
	var signedAs string
	for i := 0; i < b.N; i++ {
		// Every upload its own bytes: the holders keep the chunks of a
		// deleted object until their GC, and a push sends only the chunks
		// a holder lacks, so bytes put again would replicate for free.
		seed := func(k int) byte { return byte(20 + 8*i + k) }
		runs++
		crcOf := func(seed byte) uint32 {
			h := crc32.New(castagnoli)
			io.Copy(h, newGen(seed, size))
			return h.Sum32()
		}

		jsonWay := func() {
			var f *client.File
			timed("json_put", func() {
				var up time.Duration
				f, up = bench.putJSON(seed(0), size, fmt.Sprintf("it%d.bin", i))
				sum["json_upload"] += up
			})
			reader := bench.nonHolder(f.Replicas)
			wantCRC := crcOf(seed(0))
			timed("json_get_local", func() { bench.check(bench.getJSON(0, f.ID), size, wantCRC, "GET /files from node0") })
			timed("json_get_remote", func() {
				bench.check(bench.getJSON(reader, f.ID), size, wantCRC, fmt.Sprintf("GET /files from node%d", reader))
			})
			if err := bench.api[0].Delete(ctx, f.ID); err != nil {
				b.Fatalf("delete the JSON:API file: %v", err)
			}
		}
		s3Way := func() {
			key := fmt.Sprintf("it%d-put.bin", i)
			timed("s3_put", func() {
				rs := newSeekGen(seed(1), 0, size)
				if _, err := bench.s3[0].PutObject(ctx, &awss3.PutObjectInput{Bucket: &bench.bucket, Key: &key, Body: rs, ContentLength: aws.Int64(size)}); err != nil {
					b.Fatalf("put object: %v\n%s", err, stderr)
				}
				sum["s3_put_hash"] += rs.rewound.Sub(rs.created)
			})
			signedAs = bench.payload.Load().(string)
			reader := bench.nonHolder(bench.replicasOf(key))
			wantCRC := crcOf(seed(1))
			timed("s3_get_local", func() { bench.check(bench.getS3(0, key), size, wantCRC, "GetObject from node0") })
			timed("s3_get_remote", func() {
				bench.check(bench.getS3(reader, key), size, wantCRC, fmt.Sprintf("GetObject from node%d", reader))
			})
			bench.deleteS3(key)

			key = fmt.Sprintf("it%d-unsigned.bin", i)
			timed("s3_put_unsigned", func() {
				_, err := bench.s3[0].PutObject(ctx, &awss3.PutObjectInput{Bucket: &bench.bucket, Key: &key, Body: newSeekGen(seed(2), 0, size), ContentLength: aws.Int64(size)},
					func(o *awss3.Options) {
						o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
						o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
					})
				if err != nil {
					b.Fatalf("put object unsigned: %v\n%s", err, stderr)
				}
			})
			bench.deleteS3(key)

			for k, par := range []int{1, 4} {
				name := "s3_mpu_seq"
				if par > 1 {
					name = fmt.Sprintf("s3_mpu_par%d", par)
				}
				key := fmt.Sprintf("it%d-%s.bin", i, name)
				timed(name, func() { sum[name+"_hash"] += bench.multipart(key, seed(3+k), size, partSize, par) })
				if par == 1 {
					wantCRC := crcOf(seed(3 + k))
					timed("s3_mpu_get_local", func() { bench.check(bench.getS3(0, key), size, wantCRC, "GetObject of the multipart object") })
				}
				bench.deleteS3(key)
			}

			// As aws-cli moves a large file by default: parts of 8 MiB,
			// 10 at a time, and back in ranges of 8 MiB, 10 at a time
			// (what most holds memory on the gateway at once).
			key = fmt.Sprintf("it%d-cli.bin", i)
			timed("s3_mpu_cli", func() { bench.multipart(key, seed(5), size, 8<<20, 10) })
			timed("s3_get_ranges", func() { bench.getRanges(0, key, seed(5), size, 8<<20, 10) })
			bench.deleteS3(key)
		}
		if i%2 == 0 {
			jsonWay()
			s3Way()
		} else {
			s3Way()
			jsonWay()
		}
	}

	// The SDK reads each signed body once ahead to hash it, then sends
	// it: *_sent leaves that out (for s3_mpu_seq, where the parts go one
	// after another; s3_mpu_par4 hashes a part while others are sent).
	sum["s3_put_sent"] = sum["s3_put"] - sum["s3_put_hash"]
	sum["s3_mpu_seq_sent"] = sum["s3_mpu_seq"] - sum["s3_mpu_seq_hash"]
	mb := float64(size) * float64(runs) / 1e6
	rate := func(name string) float64 { return mb / sum[name].Seconds() }
	for _, name := range []string{"json_upload", "json_put", "json_get_local", "json_get_remote",
		"s3_put", "s3_put_sent", "s3_put_unsigned", "s3_mpu_seq", "s3_mpu_seq_sent", "s3_mpu_par4", "s3_mpu_cli",
		"s3_get_local", "s3_get_remote", "s3_mpu_get_local", "s3_get_ranges"} {
		b.ReportMetric(rate(name), name+"_MB/s")
	}
	for _, r := range [][3]string{
		{"put", "s3_put", "json_put"}, {"put_sent", "s3_put_sent", "json_put"}, {"put_unsigned", "s3_put_unsigned", "json_put"},
		{"mpu_seq", "s3_mpu_seq", "json_put"}, {"mpu_seq_sent", "s3_mpu_seq_sent", "json_put"}, {"mpu_par4", "s3_mpu_par4", "json_put"},
		{"get_local", "s3_get_local", "json_get_local"}, {"get_remote", "s3_get_remote", "json_get_remote"},
	} {
		b.ReportMetric(rate(r[1])/rate(r[2]), "ratio_"+r[0])
	}
	b.ReportMetric(float64(idle)/(1<<20), "rss_idle_MiB")
	for _, name := range []string{"json_put", "s3_put", "s3_put_unsigned", "s3_mpu_seq", "s3_mpu_par4", "s3_mpu_cli", "s3_get_local", "s3_get_ranges"} {
		b.ReportMetric(float64(peak[name])/(1<<20), "rss_"+name+"_MiB")
	}
	b.Logf("the SDK's PutObject over plain HTTP sent x-amz-content-sha256: %s", signedAs)
	if os.Getenv("DDS_BENCH_STDERR") != "" {
		// With GODEBUG=gctrace=1, the daemons' heap at each GC.
		b.Logf("the daemons' stderr:\n%s", stderr)
	}
	for _, n := range nw.Nodes {
		b.Logf("%s: peak RSS (VmHWM) %d MiB", n.Name, readMemory(n.PID).hwm>>20)
	}
}

// s3Bench is an account with an S3 key and a bucket on every node of a
// network.
type s3Bench struct {
	ctx     context.Context
	b       *testing.B
	nw      *testnet.ProcessNetwork
	stderr  *lockedBuffer
	billing *client.Client   // node0, billing token
	api     []*client.Client // each node, the account's API key
	s3      []*awss3.Client  // each node's gateway, the account's S3 key there
	bucket  string
	payload atomic.Value // the x-amz-content-sha256 of the last PutObject
}

func newS3Bench(ctx context.Context, b *testing.B, nw *testnet.ProcessNetwork, stderr *lockedBuffer) *s3Bench {
	b.Helper()
	s := &s3Bench{ctx: ctx, b: b, nw: nw, stderr: stderr, bucket: "bench"}
	var err error
	s.billing, err = client.New(nw.Nodes[0].HTTP, client.WithBillingToken(nw.Nodes[0].BillingToken), client.WithPollInterval(20*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	acc, err := s.billing.OpenAccount(ctx, "bench", "")
	if err != nil {
		b.Fatalf("open an account: %v\n%s", err, stderr)
	}
	if _, err := s.billing.Credit(ctx, acc.ID, 1<<55, "", nil); err != nil {
		b.Fatalf("credit the account: %v\n%s", err, stderr)
	}
	s.payload.Store("")
	for _, n := range nw.Nodes {
		c, err := client.New(n.HTTP, client.WithAPIKey(acc.APIKey), client.WithPollInterval(20*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		s.api = append(s.api, c)
		k, err := c.CreateS3Key(ctx)
		if err != nil {
			b.Fatalf("%s: create an S3 key: %v\n%s", n.Name, err, stderr)
		}
		if k.Endpoint == "" {
			b.Fatalf("%s serves no S3 gateway", n.Name)
		}
		hc := &http.Client{Transport: &payloadRecorder{next: http.DefaultTransport, last: &s.payload}}
		s.s3 = append(s.s3, awss3.NewFromConfig(aws.Config{
			Region:      "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, ""),
			HTTPClient:  hc,
		}, func(o *awss3.Options) {
			o.BaseEndpoint = aws.String(k.Endpoint)
			o.UsePathStyle = true
			o.RetryMaxAttempts = 1
		}))
	}
	if _, err := s.s3[0].CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &s.bucket}); err != nil {
		b.Fatalf("create the bucket: %v\n%s", err, stderr)
	}
	return s
}

// payloadRecorder keeps the x-amz-content-sha256 of the PUTs it sends.
type payloadRecorder struct {
	next http.RoundTripper
	last *atomic.Value
}

func (p *payloadRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut {
		v := r.Header.Get("X-Amz-Content-Sha256")
		if ck := r.Header.Get("X-Amz-Checksum-Crc32"); ck != "" {
			v += ", x-amz-checksum-crc32 " + ck
		}
		p.last.Store(v)
	}
	return p.next.RoundTrip(r)
}

// putJSON uploads size generated bytes to node0 through the JSON:API, pays
// them and waits until they are stored; it returns the stored file and the
// time the upload alone took.
func (s *s3Bench) putJSON(seed byte, size int64, name string) (*client.File, time.Duration) {
	start := time.Now()
	f, err := s.api[0].Upload(s.ctx, newGen(seed, size), client.UploadOptions{Name: name, Size: size})
	if err != nil {
		s.b.Fatalf("upload: %v\n%s", err, s.stderr)
	}
	up := time.Since(start)
	if _, err := s.billing.Pay(s.ctx, f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
		s.b.Fatalf("pay: %v\n%s", err, s.stderr)
	}
	f, err = s.api[0].WaitState(s.ctx, f.ID, nil, api.StateStored)
	if err != nil {
		s.b.Fatalf("wait for stored: %v\n%s", err, s.stderr)
	}
	return f, up
}

func (s *s3Bench) getJSON(node int, id string) io.ReadCloser {
	body, _, err := s.api[node].Download(s.ctx, id, 0, -1)
	if err != nil {
		s.b.Fatalf("download from node%d: %v\n%s", node, err, s.stderr)
	}
	return body
}

func (s *s3Bench) getS3(node int, key string) io.ReadCloser {
	out, err := s.s3[node].GetObject(s.ctx, &awss3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		s.b.Fatalf("get object from node%d: %v\n%s", node, err, s.stderr)
	}
	return out.Body
}

// getRanges reads key from node's gateway in ranges of rangeSize, par of
// them at a time, and checks each against the bytes put (seed's).
func (s *s3Bench) getRanges(node int, key string, seed byte, size, rangeSize int64, par int) {
	next := make(chan int64)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range par {
		wg.Go(func() {
			for off := range next {
				n := min(rangeSize, size-off)
				rng := fmt.Sprintf("bytes=%d-%d", off, off+n-1)
				out, err := s.s3[node].GetObject(s.ctx, &awss3.GetObjectInput{Bucket: &s.bucket, Key: &key, Range: &rng})
				if err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("range %s: %w", rng, err))
					continue
				}
				want := crc32.New(castagnoli)
				io.Copy(want, newSeekGen(seed, off, n))
				got := crc32.New(castagnoli)
				k, err := io.Copy(got, out.Body)
				out.Body.Close()
				if err != nil || k != n || got.Sum32() != want.Sum32() {
					failed.CompareAndSwap(nil, fmt.Errorf("range %s: %d of %d bytes (%v), or they differ", rng, k, n, err))
				}
			}
		})
	}
	for off := int64(0); off < size; off += rangeSize {
		next <- off
	}
	close(next)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		s.b.Fatalf("get ranges: %v\n%s", err, s.stderr)
	}
}

// check reads body to its end and compares it with what was put.
func (s *s3Bench) check(body io.ReadCloser, size int64, crc uint32, what string) {
	defer body.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, body)
	if err != nil || n != size {
		s.b.Fatalf("%s: %d of %d bytes: %v\n%s", what, n, size, err, s.stderr)
	}
	if h.Sum32() != crc {
		s.b.Fatalf("%s: the bytes differ from those put", what)
	}
}

func (s *s3Bench) deleteS3(key string) {
	if _, err := s.s3[0].DeleteObject(s.ctx, &awss3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		s.b.Fatalf("delete %s: %v", key, err)
	}
}

// replicasOf is the holders of the file behind key (the object's file
// has the key's name).
func (s *s3Bench) replicasOf(key string) []string {
	after := ""
	for {
		files, next, err := s.api[0].Files(s.ctx, after, 100)
		if err != nil {
			s.b.Fatalf("list the account's files: %v", err)
		}
		for _, f := range files {
			if f.Name == key && f.State == api.StateStored {
				return f.Replicas
			}
		}
		if next == "" {
			s.b.Fatalf("no stored file named %s", key)
		}
		after = next
	}
}

// nonHolder is the index of a node not in replicas.
func (s *s3Bench) nonHolder(replicas []string) int {
	for i, n := range s.nw.Nodes {
		if !slices.Contains(replicas, n.PeerID) {
			return i
		}
	}
	s.b.Fatalf("every node holds the file: %v", replicas)
	return -1
}

// multipart uploads size generated bytes to node0's gateway in parts of
// partSize, par of them at a time, and completes the upload. It returns
// the time the SDK spent reading the parts ahead to hash them, summed.
func (s *s3Bench) multipart(key string, seed byte, size, partSize int64, par int) time.Duration {
	c := s.s3[0]
	cr, err := c.CreateMultipartUpload(s.ctx, &awss3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		s.b.Fatalf("create multipart upload: %v\n%s", err, s.stderr)
	}
	parts := int((size + partSize - 1) / partSize)
	done := make([]types.CompletedPart, parts)
	next := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Value
	var hashing atomic.Int64
	for range par {
		wg.Go(func() {
			for p := range next {
				off := int64(p) * partSize
				n := min(partSize, size-off)
				body := newSeekGen(seed, off, n)
				up, err := c.UploadPart(s.ctx, &awss3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: cr.UploadId,
					PartNumber: aws.Int32(int32(p + 1)), Body: body, ContentLength: aws.Int64(n)})
				hashing.Add(int64(body.rewound.Sub(body.created)))
				if err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("part %d: %w", p+1, err))
					continue
				}
				done[p] = types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(p + 1))}
			}
		})
	}
	for p := range parts {
		next <- p
	}
	close(next)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		s.b.Fatalf("upload part: %v\n%s", err, s.stderr)
	}
	if _, err := c.CompleteMultipartUpload(s.ctx, &awss3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		s.b.Fatalf("complete multipart upload: %v\n%s", err, s.stderr)
	}
	return time.Duration(hashing.Load())
}

// seekGen is the bytes [base, base+n) of newGen(seed, ...), seekable (the
// SDK reads a body once to hash it, then rewinds it). rewound is when it
// was last sought back to its start.
type seekGen struct {
	g                *genReader
	base             int64
	created, rewound time.Time
}

func newSeekGen(seed byte, base, n int64) *seekGen {
	g := newGen(seed, base+n)
	g.off = base
	now := time.Now()
	return &seekGen{g: g, base: base, created: now, rewound: now}
}

func (s *seekGen) Read(p []byte) (int, error) { return s.g.Read(p) }

func (s *seekGen) Seek(off int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = s.base + off
	case io.SeekCurrent:
		abs = s.g.off + off
	case io.SeekEnd:
		abs = s.g.n + off
	}
	if abs < s.base || abs > s.g.n {
		return 0, fmt.Errorf("seek to %d: out of [%d, %d]", abs, s.base, s.g.n)
	}
	if abs == s.base {
		s.rewound = time.Now()
	}
	s.g.off = abs
	return abs - s.base, nil
}

// sampleRSS polls pid's VmRSS every interval until stop closes, and sends
// the peak.
func sampleRSS(pid int, every time.Duration, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		peak := readMemory(pid).rss
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				out <- max(peak, readMemory(pid).rss)
				return
			case <-t.C:
				peak = max(peak, readMemory(pid).rss)
			}
		}
	}()
	return out
}
