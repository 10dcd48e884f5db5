// Package workload holds vmctl's built-in workloads. They are compiled
// into vmctl-agent, so exactly the same code runs inside a guest (the agent
// execs itself as "/init builtin NAME ...") and natively on the host
// ("vmctl-agent builtin NAME ..."), which is what makes guest and native
// numbers comparable.
//
// Every built-in prints one JSON Result line on stdout. Flags are given
// as --name value (or --name=value); Argv writes them that way for the
// host, and Validate checks them before any VM exists.
//
// # Built-ins and their flags
//
//	cpu-hash   SHA-256 over pseudo-random data seeded by the partition index.
//	  --mib N            MiB to hash (default 256)
//	  Value: MB/s of hashing alone (generating the data is not counted),
//	  Text: hex digest, Bytes: bytes hashed.
//
//	primes     count primes in [from, to) with a segmented sieve.
//	  --from N           first number (default 0)
//	  --to N             end, exclusive (required, at most 2^40)
//	  The range is split into VMCTL_PARTITIONS contiguous slices and this
//	  run takes slice VMCTL_PARTITION, so partition counts sum to the whole.
//	  Value: primes found, Ops: numbers sieved, Text: the slice, "[lo,hi)".
//
//	wordcount  count words: maximal runs of Unicode letters, lowercased.
//	  --file A,B,...     input files (default: VMCTL_INPUTS)
//	  --offset N         count from this byte of the single input
//	  --length N         count this many bytes (default: to the end)
//	  A byte range must already start and end on line boundaries; it is
//	  counted exactly. Value: words, Counts: per word, Bytes: bytes read.
//
//	membw      copy a buffer again and again.
//	  --mib N            buffer size in MiB (default 256)
//	  --passes N         copies of the whole buffer (default 10)
//	  Value: MB/s copied (each byte is read once and written once),
//	  Bytes: bytes copied, Ops: passes.
//
//	syscalls   getppid(2) plus a 1-byte write(2) to /dev/null, N times.
//	  --count N          iterations (default 1000000)
//	  Value: system calls per second (two per iteration), Ops: iterations.
//
//	io         write and fsync a file or block device.
//	  --path P           directory (a temporary file is made in it), new
//	                     file, or block device (required)
//	  --mib N            MiB to write (default 256)
//	  --block-kib N      size of each write in KiB (default 1024)
//	  --fsync-every-mib N  fsync after every N MiB as well as at the end
//	                     (default 0: only at the end)
//	  --device true      allow writing over a block device's contents
//	  Files the run creates are removed afterwards; an existing regular
//	  file is refused rather than overwritten. Value: MB/s including the
//	  fsyncs, Bytes: bytes written, Ops: fsyncs.
//
// MB is 10^6 bytes; sizes given in MiB are 2^20 bytes.
//
// # Partition contract
//
// The jobs layer runs one process per partition, in a guest or natively,
// with these environment variables; flags override them:
//
//	VMCTL_PARTITION     0-based index of this partition (default 0)
//	VMCTL_PARTITIONS    number of partitions (default 1)
//	VMCTL_INPUTS        newline-separated input files for this partition
//	VMCTL_INPUT_OFFSET  byte range of the single input in VMCTL_INPUTS,
//	VMCTL_INPUT_LENGTH  when the job is split by bytes
//	VMCTL_OUTPUT        directory the partition may write files to
//
// The byte range applies to VMCTL_INPUTS only: when --file is given the
// range comes from --offset and --length alone.
//
// Every built-in stops between blocks when its context ends.
package workload
