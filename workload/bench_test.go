package workload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchText writes about size bytes of English-like text with a few
// non-ASCII words, the mix wordcount meets in practice.
func benchText(b *testing.B, size int) string {
	b.Helper()
	words := strings.Fields("the of and to in a is that for it as was with be by on not he I this are or his from at which but have an they you were her she there been one all we their über naïve café")
	var sb strings.Builder
	for i := 0; sb.Len() < size; i++ {
		sb.WriteString(words[(i*7+i/13)%len(words)])
		switch {
		case i%17 == 16:
			sb.WriteString(".\n")
		case i%5 == 4:
			sb.WriteString(", ")
		default:
			sb.WriteByte(' ')
		}
	}
	path := filepath.Join(b.TempDir(), "bench.txt")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

func BenchmarkWordcount(b *testing.B) {
	path := benchText(b, 32<<20)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for b.Loop() {
		if _, err := Run(context.Background(), "wordcount", map[string]string{"file": path}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrimes counts to 10^7; its "MB/s" is millions of numbers
// sieved per second.
func BenchmarkPrimes(b *testing.B) {
	const to = 10_000_000
	b.SetBytes(to)
	for b.Loop() {
		n, err := countPrimes(context.Background(), 0, to)
		if err != nil || n != 664579 {
			b.Fatalf("got %d, %v", n, err)
		}
	}
}

// BenchmarkCPUHash reports both the built-in's own figure (hashing alone)
// and, as MB/s, hashing plus generating the data.
func BenchmarkCPUHash(b *testing.B) {
	const mib = 64
	b.SetBytes(mib << 20)
	var last Result
	for b.Loop() {
		var err error
		if last, err = Run(context.Background(), "cpu-hash", map[string]string{"mib": fmt.Sprint(mib)}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(last.Value, "hash-MB/s")
}
