package workload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// readBlock is the size of each read: large, so the loop over bytes, not
// the system calls, sets the pace.
const readBlock = 1 << 20

func wordcount() *builtin {
	return &builtin{
		name: "wordcount",
		help: "count words (runs of Unicode letters, lowercased) in files or a byte range of one",
		flags: []flagSpec{
			{name: "file", kind: stringFlag, help: "comma-separated input files (default: " + EnvInputs + ")"},
			{name: "offset", kind: intFlag, max: 1 << 62, help: "first byte of the single input to count (default: 0, or " + EnvInputOffset + ")"},
			{name: "length", kind: intFlag, max: 1 << 62, help: "bytes to count (default: to the end, or " + EnvInputLength + ")"},
		},
		check: func(a *args) error {
			if !a.isGiven("file") {
				return nil
			}
			files := splitList(a.str("file"))
			switch {
			case len(files) == 0:
				return badFlag(a.builtin, "file", "names no file")
			case len(files) > 1 && (a.isGiven("offset") || a.isGiven("length")):
				return badFlag(a.builtin, "offset", "a byte range needs exactly one --file, not %d", len(files))
			}
			return nil
		},
		run: runWordcount,
	}
}

// wordcountInput is what to read: whole files, or one range of one file.
type wordcountInput struct {
	files  []string
	ranged bool
	offset int64
	length int64 // -1: to the end
}

// inputs applies flags over the partition's variables. The variables'
// byte range belongs to VMCTL_INPUTS, so --file discards it.
func inputs(a *args, p partition) (wordcountInput, error) {
	in := wordcountInput{length: -1}
	if a.isGiven("file") {
		in.files = splitList(a.str("file"))
	} else {
		in.files = p.inputs
		in.ranged = p.hasOffset || p.hasLength
		in.offset, in.length = p.offset, p.length
	}
	if a.isGiven("offset") {
		in.ranged, in.offset = true, a.int("offset")
	}
	if a.isGiven("length") {
		in.ranged, in.length = true, a.int("length")
	}
	switch {
	case len(in.files) == 0:
		return in, badFlag(a.builtin, "file", "no input: give --file or set %s", EnvInputs)
	case in.ranged && len(in.files) != 1:
		return in, badFlag(a.builtin, "offset", "a byte range (--offset/--length or %s/%s) needs exactly one input, not %d", EnvInputOffset, EnvInputLength, len(in.files))
	}
	return in, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func runWordcount(ctx context.Context, a *args, p partition) (Result, error) {
	in, err := inputs(a, p)
	if err != nil {
		return Result{}, err
	}
	c := wordCounter{counts: map[string]*int64{}}
	buf := make([]byte, readBlock)
	began := time.Now()
	var read int64
	for _, name := range in.files {
		n, err := c.countFile(ctx, a.builtin, name, in, buf)
		read += n
		if err != nil {
			return Result{}, err
		}
	}
	took := time.Since(began)
	counts := make(map[string]int64, len(c.counts))
	for w, n := range c.counts {
		counts[w] = *n
	}
	return Result{
		Value:   float64(c.words),
		Unit:    UnitWords,
		Counts:  counts,
		Bytes:   read,
		Seconds: took.Seconds(),
	}, nil
}

// wordCounter accumulates counts over any number of blocks and files.
type wordCounter struct {
	// counts holds pointers so a known word is counted by a lookup that
	// does not allocate; only new words cost a string.
	counts map[string]*int64
	words  int64
	word   []byte // the word being read, lowercased
}

// countFile counts name, or in's range of it, and returns the bytes read.
func (c *wordCounter) countFile(ctx context.Context, builtin, name string, in wordcountInput, buf []byte) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, fmt.Errorf("workload: %s: %w", builtin, err)
	}
	defer f.Close()
	var src io.Reader = f
	if in.ranged {
		fi, err := f.Stat()
		if err != nil {
			return 0, fmt.Errorf("workload: %s: %w", builtin, err)
		}
		end := fi.Size()
		if in.length >= 0 {
			end = in.offset + in.length
		}
		// The host computed the range from the file's size; a range past
		// the end means the file changed or the range is wrong.
		switch {
		case in.offset > fi.Size():
			return 0, badFlag(builtin, "offset", "%d is beyond the end of %s (%d bytes)", in.offset, name, fi.Size())
		case end > fi.Size():
			return 0, badFlag(builtin, "length", "range [%d,%d) runs past the end of %s (%d bytes)", in.offset, end, name, fi.Size())
		}
		src = io.NewSectionReader(f, in.offset, end-in.offset)
	}
	r := bufio.NewReaderSize(src, readBlock)
	var read int64
	carry := 0 // bytes of a rune cut by the end of the previous block
	for {
		if err := canceled(ctx, builtin); err != nil {
			return read, err
		}
		n, err := r.Read(buf[carry:])
		read += int64(n)
		data := buf[:carry+n]
		if err == io.EOF {
			c.feed(data, true)
			return read, nil
		}
		if err != nil {
			return read, fmt.Errorf("workload: %s: read %s: %w", builtin, name, err)
		}
		rest := c.feed(data, false)
		carry = copy(buf, data[len(data)-rest:])
	}
}

// feed counts the words in p. Unless final, a rune cut short by the end
// of p is left alone and its length returned, to be fed again with the
// next block. A word running to the end of p is carried on as well.
func (c *wordCounter) feed(p []byte, final bool) (rest int) {
	for i := 0; i < len(p); {
		b := p[i]
		if b < utf8.RuneSelf {
			// b|0x20 maps exactly the ASCII letters into 'a'..'z'.
			if l := b | 0x20; 'a' <= l && l <= 'z' {
				c.word = append(c.word, l)
			} else {
				c.endWord()
			}
			i++
			continue
		}
		if !final && !utf8.FullRune(p[i:]) {
			return len(p) - i
		}
		r, size := utf8.DecodeRune(p[i:])
		// Invalid UTF-8 decodes to RuneError, which is no letter.
		if unicode.IsLetter(r) {
			c.word = utf8.AppendRune(c.word, unicode.ToLower(r))
		} else {
			c.endWord()
		}
		i += size
	}
	if final {
		c.endWord()
	}
	return 0
}

func (c *wordCounter) endWord() {
	if len(c.word) == 0 {
		return
	}
	if n, ok := c.counts[string(c.word)]; ok {
		*n++
	} else {
		one := int64(1)
		c.counts[string(c.word)] = &one
	}
	c.words++
	c.word = c.word[:0]
}
