package scheduler

import (
	"math"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name   string
		vals   []float64
		invert bool
		want   []float64
	}{
		{name: "none", vals: nil, want: []float64{}},
		{name: "one host gets 0", vals: []float64{42}, want: []float64{0}},
		{name: "all equal get 0", vals: []float64{3, 3, 3}, want: []float64{0, 0, 0}},
		{name: "min-max", vals: []float64{0, 5, 10}, want: []float64{0, 0.5, 1}},
		{name: "negative values", vals: []float64{-10, 10}, want: []float64{0, 1}},
		{name: "inverted for pack", vals: []float64{0, 5, 10}, invert: true, want: []float64{1, 0.5, 0}},
		{name: "all equal stay 0 when inverted", vals: []float64{7, 7}, invert: true, want: []float64{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := normalize(tt.vals, tt.invert)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-12 {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestWeigherValues(t *testing.T) {
	h := oneCellHost("h", 4, 4096, VM{Name: "f", VCPUs: 3, MemoryMiB: 1024}, VM{Name: "p", VCPUs: 1, MemoryMiB: 512, PinnedCPUs: []int{3}})
	pol := DefaultPolicy() // reserve 512, cpu ratio 4
	c := newCapacity(&h, &pol)
	tests := []struct {
		name string
		w    weigher
		req  Request
		want float64
	}{
		{name: "ram: allocatable left after placement", w: ramWeigher{}, req: Request{VCPUs: 1, MemoryMiB: 1000}, want: 4096 - 512 - 1536 - 1000},
		{name: "vcpu: shared left after a floating VM", w: vcpuWeigher{}, req: Request{VCPUs: 2, MemoryMiB: 1}, want: (4-1)*4 - 3 - 2},
		{name: "vcpu: shared left after a pinned VM", w: vcpuWeigher{}, req: Request{VCPUs: 2, MemoryMiB: 1, Pin: true}, want: (4-1-2)*4 - 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.w.Value(c, tt.req); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWeighersOrderHosts(t *testing.T) {
	// ram-rich has memory, cpu-rich has CPUs: the weights decide.
	ramRich := oneCellHost("a-ram", 2, 8192)
	cpuRich := oneCellHost("b-cpu", 16, 2048)
	sizes := []Host{oneCellHost("mid", 8, 4096), oneCellHost("big", 8, 8192), oneCellHost("small", 8, 2048)}
	weighted := func(h Host, w float64) Host {
		h.Limits.Weight = ptr(w)
		return h
	}
	pol := func(weigher string, weights map[string]float64) Policy {
		p := noReserve()
		p.Weigher, p.Weights = weigher, weights
		return p
	}
	req := Request{Name: "vm", VCPUs: 1, MemoryMiB: 512}

	tests := []struct {
		name   string
		hosts  []Host
		pol    Policy
		order  string // verdict hosts, best first
		scores []float64
	}{
		{name: "spread: most free memory first", hosts: sizes, pol: pol(WeighSpread, nil),
			order: "big,mid,small", scores: []float64{1, 2048.0 / 6144, 0}},
		{name: "default weigher is spread", hosts: sizes, pol: pol("", nil), order: "big,mid,small"},
		{name: "pack: least free memory first", hosts: sizes, pol: pol(WeighPack, nil),
			order: "small,mid,big", scores: []float64{1, 4096.0 / 6144, 0}},
		{name: "equal weights tie, broken by name", hosts: []Host{cpuRich, ramRich}, pol: pol(WeighSpread, nil),
			order: "a-ram,b-cpu", scores: []float64{1, 1}},
		{name: "ram weight only", hosts: []Host{cpuRich, ramRich}, pol: pol(WeighSpread, map[string]float64{"vcpu": 0}),
			order: "a-ram,b-cpu", scores: []float64{1, 0}},
		{name: "vcpu weight only", hosts: []Host{cpuRich, ramRich}, pol: pol(WeighSpread, map[string]float64{"ram": 0}),
			order: "b-cpu,a-ram", scores: []float64{1, 0}},
		{name: "vcpu weighs double", hosts: []Host{cpuRich, ramRich}, pol: pol(WeighSpread, map[string]float64{"ram": 1, "vcpu": 2}),
			order: "b-cpu,a-ram", scores: []float64{2, 1}},
		{name: "pack inverts both weighers", hosts: []Host{cpuRich, ramRich}, pol: pol(WeighPack, map[string]float64{"ram": 1, "vcpu": 2}),
			order: "a-ram,b-cpu", scores: []float64{2, 1}},
		{name: "host weight breaks the tie", hosts: []Host{weighted(cpuRich, 2), ramRich}, pol: pol(WeighSpread, nil),
			order: "b-cpu,a-ram", scores: []float64{2, 1}},
		{name: "host weight below 1 demotes", hosts: []Host{cpuRich, weighted(ramRich, 0.5)}, pol: pol(WeighSpread, nil),
			order: "b-cpu,a-ram", scores: []float64{1, 0.5}},
		{name: "host weight cannot lift a zero score", hosts: []Host{sizes[0], weighted(sizes[1], 10), sizes[2]}, pol: pol(WeighPack, nil),
			order: "small,mid,big", scores: []float64{1, 4096.0 / 6144, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := Place(tt.hosts, req, tt.pol)
			if err != nil {
				t.Fatal(err)
			}
			if got := hostNames(pl.Verdicts); got != tt.order {
				t.Fatalf("order %s, want %s (%+v)", got, tt.order, pl.Verdicts)
			}
			if want := pl.Verdicts[0].Host; pl.Host.Name != want {
				t.Fatalf("chose %s, want %s", pl.Host.Name, want)
			}
			for i, s := range tt.scores {
				if math.Abs(pl.Verdicts[i].Score-s) > 1e-9 {
					t.Errorf("%s score %v, want %v", pl.Verdicts[i].Host, pl.Verdicts[i].Score, s)
				}
			}
			for _, v := range pl.Verdicts {
				if len(v.Weights) != 2 {
					t.Errorf("%s weights %v, want ram and vcpu", v.Host, v.Weights)
				}
				for k, w := range v.Weights {
					if w < 0 || w > 1 {
						t.Errorf("%s weight %s = %v, outside 0..1", v.Host, k, w)
					}
				}
			}
		})
	}
}
