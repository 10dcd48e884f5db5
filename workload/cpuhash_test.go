package workload

import (
	"testing"
)

func TestCPUHashDeterministicPerSeed(t *testing.T) {
	run := func(partition string) Result {
		return mustRun(t, "cpu-hash", map[string]string{"mib": "2"}, map[string]string{EnvPartition: partition, EnvPartitions: "4"})
	}
	a, again, b := run("1"), run("1"), run("2")
	if len(a.Text) != 64 {
		t.Fatalf("digest %q is not hex SHA-256", a.Text)
	}
	if a.Text != again.Text {
		t.Errorf("same partition, different digests: %s, %s", a.Text, again.Text)
	}
	if a.Text == b.Text {
		t.Errorf("partitions 1 and 2 hashed the same data: %s", a.Text)
	}
	if a.Bytes != 2<<20 || a.Value <= 0 || a.Unit != UnitMBps {
		t.Errorf("result %+v, want 2 MiB hashed at a positive MB/s", a)
	}
}
