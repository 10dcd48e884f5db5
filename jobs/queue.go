package jobs

import (
	"context"
	"sort"
	"sync"
	"time"
)

// task is a partition waiting for, or holding, a slot.
type task struct {
	p Partition
	// attempts made so far, across runs (the journal remembers).
	attempts int
	// lastWorker is where the previous attempt failed; a retry goes
	// elsewhere when another worker is up.
	lastWorker string
	lastErr    string
	// notBefore holds the task back until its wave arrives (Arrivals).
	notBefore time.Time
}

// queue hands partitions to worker slots. It is done when nothing is
// pending, held back or running; a partition being retried counts as
// pending.
type queue struct {
	mu      sync.Mutex
	pending []*task
	// later holds tasks whose wave has not arrived, in release order.
	later   []*task
	running int
	wake    chan struct{}
	// avoidWait is how long a slot leaves a retry for another worker
	// before taking it itself (that worker may be busy for long).
	avoidWait time.Duration
}

func newQueue(tasks []*task) *queue {
	q := &queue{wake: make(chan struct{}), avoidWait: 2 * time.Second}
	for _, t := range tasks {
		if t.notBefore.IsZero() {
			q.pending = append(q.pending, t)
		} else {
			q.later = append(q.later, t)
		}
	}
	sort.SliceStable(q.later, func(i, j int) bool { return q.later[i].notBefore.Before(q.later[j].notBefore) })
	return q
}

// release moves the tasks whose wave has arrived to pending. Called with
// mu held.
func (q *queue) release(now time.Time) {
	n := 0
	for n < len(q.later) && !q.later[n].notBefore.After(now) {
		n++
	}
	if n > 0 {
		q.pending = append(q.pending, q.later[:n]...)
		q.later = q.later[n:]
		q.broadcast()
	}
}

// broadcast wakes every waiting slot. Called with mu held.
func (q *queue) broadcast() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// next blocks until there is a task for worker, or returns false when the
// queue is finished or ctx ends. workers reports how many workers are up,
// so a lone worker takes its own retries at once.
func (q *queue) next(ctx context.Context, worker string, workers func() int) (*task, bool) {
	var waitingSince time.Time
	for {
		// A drained worker takes nothing more, even with work waiting.
		if ctx.Err() != nil {
			return nil, false
		}
		q.mu.Lock()
		q.release(time.Now())
		if len(q.pending) == 0 && q.running == 0 && len(q.later) == 0 {
			q.mu.Unlock()
			return nil, false
		}
		pick := -1
		for i, t := range q.pending {
			if t.lastWorker != worker {
				pick = i
				break
			}
		}
		if pick < 0 && len(q.pending) > 0 {
			if waitingSince.IsZero() {
				waitingSince = time.Now()
			}
			if workers() <= 1 || time.Since(waitingSince) >= q.avoidWait {
				pick = 0
			}
		}
		if pick >= 0 {
			t := q.pending[pick]
			q.pending = append(q.pending[:pick], q.pending[pick+1:]...)
			q.running++
			q.mu.Unlock()
			return t, true
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, false
		case <-wake:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// finish ends a task's run: done, or back in the queue for a retry.
func (q *queue) finish(t *task, retry bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running--
	if retry {
		q.pending = append(q.pending, t)
	}
	q.broadcast()
}

// remaining counts the arrived tasks: pending (the backlog) and running.
func (q *queue) remaining() (pending, running int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.release(time.Now())
	return len(q.pending), q.running
}

// left is every task not done: pending, running and yet to arrive.
func (q *queue) left() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) + q.running + len(q.later)
}
