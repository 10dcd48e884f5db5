package jobs

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestArrivalsOffsets(t *testing.T) {
	a := Arrivals{Waves: 3, Every: 10 * time.Second}
	var got []time.Duration
	for i := range 7 {
		got = append(got, a.offset(i, 7))
	}
	// 7 partitions in 3 waves: 3, 2, 2 by index (i*3/7).
	want := []time.Duration{0, 0, 0, 10 * time.Second, 10 * time.Second, 20 * time.Second, 20 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("offsets %v, want %v", got, want)
		}
	}
	if (Arrivals{}).offset(5, 7) != 0 || (Arrivals{Waves: 1, Every: time.Hour}).offset(6, 7) != 0 {
		t.Fatal("one wave must release everything at once")
	}
}

func TestArrivalsValidate(t *testing.T) {
	for _, tc := range []struct {
		a  Arrivals
		ok bool
	}{
		{Arrivals{}, true},
		{Arrivals{Waves: 2, Every: time.Second}, true},
		{Arrivals{Waves: 2}, false},
		{Arrivals{Waves: -1}, false},
		{Arrivals{Waves: 5, Every: time.Second}, false},
	} {
		err := tc.a.Validate(4)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidSpec)) {
			t.Errorf("%+v: %v", tc.a, err)
		}
	}
}

// A held-back task is neither backlog nor handed out before its time, and
// the queue is not finished while it waits.
func TestQueueReleasesWaves(t *testing.T) {
	start := time.Now()
	q := newQueue([]*task{
		{p: Partition{Index: 0}},
		{p: Partition{Index: 1}, notBefore: start.Add(300 * time.Millisecond)},
	})
	one := func() int { return 1 }
	ctx := context.Background()
	t0, ok := q.next(ctx, "a", one)
	if !ok || t0.p.Index != 0 {
		t.Fatalf("first task: %v %v", t0, ok)
	}
	if pending, running := q.remaining(); pending != 0 || running != 1 || q.left() != 2 {
		t.Fatalf("before the wave: pending %d running %d left %d", pending, running, q.left())
	}
	q.finish(t0, false)
	if q.left() != 1 {
		t.Fatalf("the held-back task must keep the queue open, left %d", q.left())
	}
	t1, ok := q.next(ctx, "a", one)
	if !ok || t1.p.Index != 1 {
		t.Fatalf("second task: %v %v", t1, ok)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("the second wave was handed out after %s, before its release", waited)
	}
	q.finish(t1, false)
	if _, ok := q.next(ctx, "a", one); ok || q.left() != 0 {
		t.Fatal("the queue should be finished")
	}
}
