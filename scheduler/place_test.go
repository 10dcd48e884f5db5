package scheduler

import (
	"errors"
	"reflect"
	"testing"
)

func TestPlaceNoValidHostListsEachHost(t *testing.T) {
	down := oneCellHost("h2", 8, 65536)
	down.Err = "dial tcp 10.0.0.2:16509: connect: connection refused"
	hosts := []Host{down, oneCellHost("h1", 4, 2048)}
	pl, err := Place(hosts, Request{Name: "x", VCPUs: 2, MemoryMiB: 4096}, DefaultPolicy())
	if !errors.Is(err, ErrNoValidHost) {
		t.Fatalf("err = %v, want ErrNoValidHost", err)
	}
	want := "no valid host for vm x (2 vCPUs, 4096 MiB): " +
		"h1: memory: needs 4096 MiB, 1536 MiB left of 2048 MiB (ratio 1.0, reserve 512 MiB, 0 VMs use 0 MiB); " +
		"h2: unreachable: dial tcp 10.0.0.2:16509: connect: connection refused"
	if err.Error() != want {
		t.Fatalf("error\n got %s\nwant %s", err, want)
	}
	if pl == nil {
		t.Fatal("no placement returned with the error: the caller cannot show verdicts")
	}
	if pl.Host.Name != "" || pl.Pinning != nil {
		t.Fatalf("failed placement chose %q / %+v", pl.Host.Name, pl.Pinning)
	}
	if got := hostNames(pl.Verdicts); got != "h1,h2" {
		t.Fatalf("verdicts %s", got)
	}
	if v := pl.Verdicts[1]; v.Passed || v.Filter != FilterReachable || v.Reason != down.Err || v.URI != down.URI {
		t.Fatalf("unreachable verdict %+v", v)
	}
}

func TestPlaceDescribesTheRequest(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{name: "one vCPU, no name", req: Request{VCPUs: 1, MemoryMiB: 256},
			want: "no valid host for the vm (1 vCPU, 256 MiB): no hosts to choose from"},
		{name: "everything", req: Request{Name: "db", VCPUs: 2, MemoryMiB: 512, Pin: true, RequireKVM: true, Group: "g", GroupPolicy: GroupSpread},
			want: "no valid host for vm db (2 vCPUs pinned, 512 MiB, KVM, group g spread): no hosts to choose from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Place(nil, tt.req, DefaultPolicy())
			if !errors.Is(err, ErrNoValidHost) || err.Error() != tt.want {
				t.Fatalf("got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestPlaceSkipsUnreachableHosts(t *testing.T) {
	down := oneCellHost("a-down", 64, 1<<20)
	down.Err = "no route to host"
	pl, err := Place([]Host{down, oneCellHost("b-up", 2, 2048)}, Request{Name: "x", VCPUs: 1, MemoryMiB: 256}, DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if pl.Host.Name != "b-up" {
		t.Fatalf("chose %s", pl.Host.Name)
	}
	if got := hostNames(pl.Verdicts); got != "b-up,a-down" {
		t.Fatalf("verdict order %s: passed hosts come first", got)
	}
	if v := pl.Verdicts[1]; v.Passed || v.Filter != FilterReachable || v.Reason != "no route to host" || v.Weights != nil {
		t.Fatalf("unreachable verdict %+v", v)
	}
}

func TestPlaceFirstRejectingFilterWins(t *testing.T) {
	h := oneCellHost("h", 1, 256, VM{Name: "a", VCPUs: 4, MemoryMiB: 256})
	h.KVM, h.KVMReason = false, "no /dev/kvm"
	h.Limits.MaxVMs = ptr(1)
	tests := []struct {
		name   string
		req    Request
		filter string
	}{
		{name: "kvm before everything", req: Request{VCPUs: 9, MemoryMiB: 9999, RequireKVM: true}, filter: FilterKVM},
		{name: "max_vms before memory", req: Request{VCPUs: 9, MemoryMiB: 9999}, filter: FilterMaxVMs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := Place([]Host{h}, tt.req, noReserve())
			if !errors.Is(err, ErrNoValidHost) || pl.Verdicts[0].Filter != tt.filter {
				t.Fatalf("err %v, verdict %+v, want filter %s", err, pl.Verdicts, tt.filter)
			}
		})
	}
}

func TestPlaceTiesGoByName(t *testing.T) {
	hosts := []Host{oneCellHost("c", 4, 4096), oneCellHost("a", 4, 4096), oneCellHost("b", 4, 4096)}
	for _, weigher := range []string{WeighSpread, WeighPack} {
		t.Run(weigher, func(t *testing.T) {
			pol := DefaultPolicy()
			pol.Weigher = weigher
			pl, err := Place(hosts, Request{Name: "x", VCPUs: 1, MemoryMiB: 256}, pol)
			if err != nil {
				t.Fatal(err)
			}
			if pl.Host.Name != "a" || hostNames(pl.Verdicts) != "a,b,c" {
				t.Fatalf("chose %s, order %s", pl.Host.Name, hostNames(pl.Verdicts))
			}
		})
	}
}

func TestPlaceDoesNotChangeItsInput(t *testing.T) {
	hosts := []Host{twoCellHost("a", VM{Name: "p", VCPUs: 2, PinnedCPUs: []int{0, 1}, Cells: []int{0}}), twoCellHost("b")}
	before := []Host{twoCellHost("a", VM{Name: "p", VCPUs: 2, PinnedCPUs: []int{0, 1}, Cells: []int{0}}), twoCellHost("b")}
	if _, err := Place(hosts, Request{Name: "x", VCPUs: 2, MemoryMiB: 256, Pin: true}, DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(hosts, before) {
		t.Fatal("Place changed the hosts it was given")
	}
}

func TestPlaceValidates(t *testing.T) {
	hosts := []Host{oneCellHost("h", 4, 4096)}
	tests := []struct {
		name    string
		req     Request
		pol     Policy
		wantErr error
		want    string
	}{
		{name: "no vcpus", req: Request{MemoryMiB: 1}, pol: DefaultPolicy(), wantErr: ErrInvalidRequest, want: "vcpus must be at least 1 (got 0)"},
		{name: "no memory", req: Request{VCPUs: 1}, pol: DefaultPolicy(), wantErr: ErrInvalidRequest, want: "memory must be more than 0 MiB (got 0)"},
		{name: "group without policy", req: Request{VCPUs: 1, MemoryMiB: 1, Group: "g"}, pol: DefaultPolicy(), wantErr: ErrInvalidRequest, want: `group "g" needs a group policy`},
		{name: "policy without group", req: Request{VCPUs: 1, MemoryMiB: 1, GroupPolicy: GroupPack}, pol: DefaultPolicy(), wantErr: ErrInvalidRequest, want: "without a group"},
		{name: "unknown group policy", req: Request{VCPUs: 1, MemoryMiB: 1, Group: "g", GroupPolicy: "affinity"}, pol: DefaultPolicy(), wantErr: ErrInvalidRequest, want: `unknown group policy "affinity"`},
		{name: "bad policy", req: Request{VCPUs: 1, MemoryMiB: 1}, pol: Policy{}, wantErr: ErrInvalidPolicy, want: "cpu allocation ratio must be > 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := Place(hosts, tt.req, tt.pol)
			if !errors.Is(err, tt.wantErr) || pl != nil {
				t.Fatalf("got %v, %v; want %v", pl, err, tt.wantErr)
			}
			wantContains(t, err.Error(), tt.want)
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	with := func(f func(*Policy)) Policy {
		p := DefaultPolicy()
		f(&p)
		return p
	}
	tests := []struct {
		name string
		pol  Policy
		want string // "" = valid
	}{
		{name: "defaults", pol: DefaultPolicy()},
		{name: "empty weigher means spread", pol: with(func(p *Policy) { p.Weigher = "" })},
		{name: "pack", pol: with(func(p *Policy) { p.Weigher = WeighPack })},
		{name: "weights", pol: with(func(p *Policy) { p.Weights = map[string]float64{"ram": 2, "vcpu": 0} })},
		{name: "zero reserve", pol: with(func(p *Policy) { p.ReserveMiB = 0 })},
		{name: "zero cpu ratio", pol: with(func(p *Policy) { p.CPUAllocationRatio = 0 }), want: "cpu allocation ratio must be > 0 (got 0); the default is 4"},
		{name: "negative ram ratio", pol: with(func(p *Policy) { p.RAMAllocationRatio = -1 }), want: "ram allocation ratio must be > 0 (got -1)"},
		{name: "negative reserve", pol: with(func(p *Policy) { p.ReserveMiB = -1 }), want: "memory reserve must be >= 0 MiB (got -1)"},
		{name: "unknown weigher", pol: with(func(p *Policy) { p.Weigher = "random" }), want: `unknown weigher "random"`},
		{name: "unknown weight", pol: with(func(p *Policy) { p.Weights = map[string]float64{"disk": 1} }), want: `unknown weigher "disk" in weights: known are ram, vcpu`},
		{name: "negative weight", pol: with(func(p *Policy) { p.Weights = map[string]float64{"ram": -1} }), want: `weight ram must be a finite number >= 0 (got -1); for least-free-first use weigher "pack"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pol.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("err = %v, want ErrInvalidPolicy", err)
			}
			wantContains(t, err.Error(), tt.want)
		})
	}
}

// placeAll places reqs one after another, adding each VM to its host as
// the inventory would show it, and returns the hosts chosen ("" for none).
func placeAll(t *testing.T, hosts []Host, pol Policy, reqs ...Request) []string {
	t.Helper()
	var chosen []string
	for _, req := range reqs {
		pl, err := Place(hosts, req, pol)
		if errors.Is(err, ErrNoValidHost) {
			chosen = append(chosen, "")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		chosen = append(chosen, pl.Host.Name)
		for i := range hosts {
			if hosts[i].Name == pl.Host.Name {
				vm := VM{Name: req.Name, VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, Group: req.Group}
				if pl.Pinning != nil {
					vm.PinnedCPUs, vm.Cells = pl.Pinning.VCPUs, pl.Pinning.MemoryNodes
				}
				hosts[i].VMs = append(hosts[i].VMs, vm)
			}
		}
	}
	return chosen
}

func TestPlaceGroups(t *testing.T) {
	member := func(name, policy string) Request {
		return Request{Name: name, VCPUs: 1, MemoryMiB: 256, Group: "g", GroupPolicy: policy}
	}
	tests := []struct {
		name    string
		weigher string
		reqs    []Request
		want    []string
	}{
		{name: "spread puts one member per host, then fails", weigher: WeighPack,
			reqs: []Request{member("g1", GroupSpread), member("g2", GroupSpread), member("g3", GroupSpread), member("g4", GroupSpread)},
			want: []string{"a", "b", "c", ""}},
		{name: "pack keeps members together even when spreading", weigher: WeighSpread,
			reqs: []Request{member("g1", GroupPack), {Name: "other", VCPUs: 1, MemoryMiB: 256}, member("g2", GroupPack), member("g3", GroupPack)},
			want: []string{"a", "b", "a", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts := []Host{oneCellHost("a", 8, 8192), oneCellHost("b", 8, 8192), oneCellHost("c", 8, 8192)}
			pol := noReserve()
			pol.Weigher = tt.weigher
			if got := placeAll(t, hosts, pol, tt.reqs...); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("placed on %q, want %q", got, tt.want)
			}
		})
	}
}
