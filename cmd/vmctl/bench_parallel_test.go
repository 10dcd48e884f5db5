package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCounts(t *testing.T) {
	got, err := parseCounts(" 1, 2,4,,8 ")
	if err != nil || !slices.Equal(got, []int{1, 2, 4, 8}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := parseCounts("2,four"); err == nil || !strings.Contains(err.Error(), `"four"`) {
		t.Fatalf("want an error naming the bad count, got %v", err)
	}
	if s := joinInts([]int{1, 2, 16}); s != "1,2,16" {
		t.Fatalf("joinInts: %q", s)
	}
}
