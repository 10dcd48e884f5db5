package jobs

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
)

// lineScanBlock is how much of a file is read at a time when looking for
// the newline after a cut point.
const lineScanBlock = 64 << 10

// splitBytes cuts each file into line-aligned ranges; see Partitions.
func splitBytes(root string, files []inputFile, count int) ([]Partition, error) {
	ranges := rangesPerFile(files, count)
	var parts []Partition
	for i, f := range files {
		if ranges[i] == 0 {
			continue
		}
		ends, err := lineCuts(filepath.Join(root, f.rel), f.size, ranges[i])
		if err != nil {
			return nil, fmt.Errorf("split %s by bytes: %w", f.rel, err)
		}
		rel := filepath.ToSlash(f.rel)
		var start int64
		for _, end := range ends {
			if end > start {
				parts = append(parts, Partition{Index: len(parts), Inputs: []string{rel}, Offset: start, Length: end - start, Bytes: end - start})
			}
			start = end
		}
	}
	return parts, nil
}

// rangesPerFile shares count ranges among the files: one for each
// non-empty file, then one at a time to the file whose ranges are
// largest (the D'Hondt method), which makes the largest nominal range as
// small as it can be. A file gets no more ranges than it has bytes.
func rangesPerFile(files []inputFile, count int) []int {
	k := make([]int, len(files))
	h := &rangeHeap{files: files, k: k}
	for i, f := range files {
		if f.size > 0 {
			k[i] = 1
			count--
		}
		if f.size > 1 {
			h.idx = append(h.idx, i)
		}
	}
	heap.Init(h)
	for ; count > 0 && h.Len() > 0; count-- {
		i := h.idx[0]
		k[i]++
		if int64(k[i]) >= files[i].size {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
	}
	return k
}

// rangeHeap orders files by bytes per range, largest first, ties by
// name order so the split is deterministic.
type rangeHeap struct {
	files []inputFile
	k     []int
	idx   []int
}

func (h *rangeHeap) Len() int { return len(h.idx) }
func (h *rangeHeap) Less(a, b int) bool {
	i, j := h.idx[a], h.idx[b]
	// size_i/k_i > size_j/k_j without division; 128-bit products.
	hi1, lo1 := bits.Mul64(uint64(h.files[i].size), uint64(h.k[j]))
	hi2, lo2 := bits.Mul64(uint64(h.files[j].size), uint64(h.k[i]))
	if hi1 != hi2 || lo1 != lo2 {
		return hi1 > hi2 || (hi1 == hi2 && lo1 > lo2)
	}
	return i < j
}
func (h *rangeHeap) Swap(a, b int) { h.idx[a], h.idx[b] = h.idx[b], h.idx[a] }
func (h *rangeHeap) Push(x any)    { h.idx = append(h.idx, x.(int)) }
func (h *rangeHeap) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}

// lineCuts returns the ends of k ranges of a size-byte file: the j-th
// nominal cut size*j/k moves forward to just after the next newline (or
// to the end of the file). Ends never decrease and the last is size, so
// the ranges [end[j-1], end[j]) cover the file exactly once; some may be
// empty when a line is longer than a nominal range.
func lineCuts(name string, size int64, k int) ([]int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ends := make([]int64, 0, k)
	buf := make([]byte, lineScanBlock)
	var prev int64
	for j := 1; j < k; j++ {
		hi, lo := bits.Mul64(uint64(size), uint64(j))
		q, _ := bits.Div64(hi, lo, uint64(k))
		cut := int64(q)
		// The previous end is already the first boundary at or after
		// cut; scanning again would read a long line once per cut.
		if cut > prev {
			if prev, err = nextLineStart(f, cut, size, buf); err != nil {
				return nil, err
			}
		}
		ends = append(ends, prev)
	}
	return append(ends, size), nil
}

// nextLineStart is the smallest b >= at (at >= 1) such that byte b-1 is
// a newline, or size when no newline follows.
func nextLineStart(f *os.File, at, size int64, buf []byte) (int64, error) {
	for pos := at - 1; pos < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-pos)], pos)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i) + 1, nil
		}
		pos += int64(n)
		if errors.Is(err, io.EOF) && pos < size {
			return 0, fmt.Errorf("file shrank below %d bytes while being split: %w", size, io.ErrUnexpectedEOF)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
	}
	return size, nil
}
