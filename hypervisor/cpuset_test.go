package hypervisor

import (
	"reflect"
	"testing"
)

func TestCPUSet(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		format  string
		wantErr bool
	}{
		{"0", []int{0}, "0", false},
		{"0-3", []int{0, 1, 2, 3}, "0-3", false},
		{"0-3,^2", []int{0, 1, 3}, "0-1,3", false},
		{"5,1,3-4", []int{1, 3, 4, 5}, "1,3-5", false},
		{"", []int{}, "", false},
		{"3-1", nil, "", true},
		{"a", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCPUSet(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if f := FormatCPUSet(got); f != tt.format {
				t.Fatalf("format = %q, want %q", f, tt.format)
			}
		})
	}
}
