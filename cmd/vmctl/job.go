package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/autoscale"
	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/hypervisor/guestimage"
	"github.com/vmctl/vmctl/jobs"
	"github.com/vmctl/vmctl/scheduler"
)

const defaultJobsDir = "/var/lib/vmctl/jobs"

func jobCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "job",
		Usage: "run a partitioned workload over a pool of VMs (or natively), resume it after a crash, inspect it",
		Subcommands: []*cli.Command{
			jobRunCommand(log),
			jobResumeCommand(log),
			jobStatusCommand(),
			jobLsCommand(),
		},
	}
}

func jobFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "jobs-dir", Value: defaultJobsDir, EnvVars: []string{"VMCTL_JOBS_DIR"}, Usage: "parent `DIR` of job directories when the spec names no output"},
		&cli.StringFlag{Name: "agent", Value: defaultAgentPath(), Usage: "vmctl-agent `BINARY` for --native built-ins"},
		&cli.BoolFlag{Name: "no-progress", Usage: "no progress bar or progress lines"},
		&cli.StringFlag{Name: "timeline", Usage: "write load, pool size and scaling decisions over time to `FILE` (.svg or .png)"},
		&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus metrics on `ADDR` (e.g. 127.0.0.1:9464) while the job runs"},
		&cli.IntFlag{Name: "waves", Usage: "release the partitions in `N` equal waves instead of all at once (load that comes and goes)"},
		&cli.DurationFlag{Name: "wave-every", Usage: "`TIME` between two waves (with --waves)"},
	}
}

func jobRunCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run SPEC.yaml: boot the pool, run every partition, gather, reduce, clean up",
		ArgsUsage: "SPEC.yaml",
		Flags: append(jobFlags(),
			&cli.BoolFlag{Name: "native", Usage: "run the partitions as host processes instead of in VMs"},
			&cli.BoolFlag{Name: "compare-native", Usage: "after the VM run, run the same job natively and report the in-VM/native throughput ratio"},
			&cli.StringFlag{Name: "dir", Usage: "job `DIR` (overrides the spec's output)"},
		),
		Action: func(c *cli.Context) error {
			path, err := requireArg(c, "SPEC.yaml")
			if err != nil {
				return err
			}
			spec, err := jobs.Load(path)
			if err != nil {
				return err
			}
			dir := jobDir(c, spec)
			if _, err := os.Stat(filepath.Join(dir, "journal.jsonl")); err == nil {
				return fmt.Errorf("job directory %s already holds a job: `vmctl job resume %s` continues it, or pick another --dir", dir, dir)
			}
			return runJob(c, log, spec, dir, c.Bool("native"), c.Bool("compare-native"))
		},
	}
}

func jobResumeCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "resume",
		Usage:     "continue a job whose vmctl crashed or was killed: only unfinished partitions run again",
		ArgsUsage: "DIR",
		Flags:     jobFlags(),
		Action: func(c *cli.Context) error {
			dir, err := requireArg(c, "DIR")
			if err != nil {
				return err
			}
			st, err := jobs.ReadStatus(dir)
			if err != nil {
				return err
			}
			return runJob(c, log, st.Spec, dir, st.Native, false)
		},
	}
}

func jobDir(c *cli.Context, spec *jobs.Spec) string {
	if d := c.String("dir"); d != "" {
		return d
	}
	if spec.Output != "" {
		return spec.Output
	}
	return filepath.Join(c.String("jobs-dir"), spec.Name+"-"+time.Now().Format("20060102-150405"))
}

// runJob runs (or resumes) the job in dir and prints its summary. Workers
// that could not be removed do not spoil the result: it is printed, and
// the returned error names them (exit 3).
func runJob(c *cli.Context, log *logrus.Logger, spec *jobs.Spec, dir string, native, compare bool) error {
	sum, err := runOnce(c, log, spec, dir, native)
	if err != nil && !hypervisor.OnlyLeftBehind(err) {
		if sum != nil && !jsonOutput(c) {
			printJobSummary(sum, nil)
		}
		return err
	}
	left := err
	var nat *jobs.Summary
	if compare && !native {
		if nat, err = runOnce(c, log, spec, filepath.Join(dir, "native"), true); err != nil {
			return errors.Join(fmt.Errorf("native comparison run: %w", err), left)
		}
		if err := jobs.CheckSameResult(sum.Result, nat.Result); err != nil {
			return errors.Join(fmt.Errorf("in-VM and native results differ: %w", err), left)
		}
	}
	if jsonOutput(c) {
		out := map[string]any{"summary": sum}
		if nat != nil {
			out["native"] = nat
			out["ratio"] = jobs.Compare(sum, nat)
		}
		return errors.Join(writeJSON(os.Stdout, out), left)
	}
	printJobSummary(sum, nat)
	return left
}

func runOnce(c *cli.Context, log *logrus.Logger, spec *jobs.Spec, dir string, native bool) (*jobs.Summary, error) {
	var (
		prov  jobs.Provider
		fleet *scheduler.Fleet
	)
	if native {
		prov = &jobs.NativeProvider{Spec: spec, AgentPath: c.String("agent"), WorkDir: filepath.Join(dir, "native-work")}
	} else {
		img, err := jobImage(c, spec)
		if err != nil {
			return nil, err
		}
		claims, err := scheduler.NewClaimStore(c.String("claims-dir"))
		if err != nil {
			return nil, err
		}
		if fleet, err = openFleet(c, log); err != nil {
			return nil, err
		}
		defer fleet.Close()
		prov = &jobs.VMProvider{Spec: spec, JobID: jobs.JobID(dir), Fleet: fleet, Claims: claims, Policy: scheduler.DefaultPolicy(), Image: img}
	}
	r := &jobs.Runner{Spec: spec, Dir: dir, Provider: prov, Log: log,
		Arrivals: jobs.Arrivals{Waves: c.Int("waves"), Every: c.Duration("wave-every")}}
	stopObs, err := observe(c, r, spec, native)
	if err != nil {
		return nil, err
	}
	defer stopObs()
	// A signal cancels the run; the runner still stops every worker it
	// started before it returns.
	ctx, stop := context.WithCancel(c.Context)
	defer stop()
	done := make(chan struct{})
	if !c.Bool("no-progress") && !jsonOutput(c) {
		go showProgress(ctx, r, spec.Name+map[bool]string{true: " (native)", false: ""}[native], done)
	} else {
		close(done)
	}
	sum, err := r.Run(ctx)
	stop()
	<-done
	if r.Timeline != nil {
		path := c.String("timeline")
		if native {
			path = nativePath(path)
		}
		if werr := r.Timeline.WriteFile(path, fmt.Sprintf("vmctl job %s (%s)", spec.Name, map[bool]string{true: "native", false: "VMs"}[native])); werr != nil {
			log.WithError(werr).Warn("timeline not written")
		} else if !jsonOutput(c) {
			fmt.Fprintf(os.Stderr, "timeline: %s\n", path)
		}
	}
	return sum, err
}

// observe attaches the timeline recorder and the metrics endpoint the
// flags ask for; the returned function stops the endpoint.
func observe(c *cli.Context, r *jobs.Runner, spec *jobs.Spec, native bool) (func(), error) {
	if c.String("timeline") != "" {
		r.Timeline = autoscale.NewRecorder(time.Now())
	}
	addr := c.String("metrics-addr")
	if addr == "" || native {
		return func() {}, nil
	}
	reg := prometheus.NewRegistry()
	r.Metrics = autoscale.NewMetrics(reg, spec.Name)
	ctx, cancel := context.WithCancel(c.Context)
	bound, err := autoscale.Serve(ctx, addr, reg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	fmt.Fprintf(os.Stderr, "metrics: http://%s/metrics\n", bound)
	return cancel, nil
}

// nativePath puts the native run's timeline next to the VM run's.
func nativePath(p string) string {
	ext := filepath.Ext(p)
	return strings.TrimSuffix(p, ext) + "-native" + ext
}

// jobImage is the spec's image, or the current cached one.
func jobImage(c *cli.Context, spec *jobs.Spec) (hypervisor.BootImage, error) {
	if spec.VM.Image == "" {
		return loadImage(c)
	}
	im, err := guestimage.Load(spec.VM.Image)
	if err != nil {
		return hypervisor.BootImage{}, fmt.Errorf("vm.image: %w", err)
	}
	return bootImage(im), nil
}

func jobStatusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "where a job stands: partitions done, attempts, workers, result",
		ArgsUsage: "DIR",
		Action: func(c *cli.Context) error {
			dir, err := requireArg(c, "DIR")
			if err != nil {
				return err
			}
			st, err := jobs.ReadStatus(dir)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(os.Stdout, st)
			}
			printJobStatus(st)
			return nil
		},
	}
}

func jobLsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list the jobs under --jobs-dir",
		Flags: []cli.Flag{&cli.StringFlag{Name: "jobs-dir", Value: defaultJobsDir, EnvVars: []string{"VMCTL_JOBS_DIR"}, Usage: "parent `DIR` of job directories"}},
		Action: func(c *cli.Context) error {
			list, err := jobs.List(c.String("jobs-dir"))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if jsonOutput(c) {
				if list == nil {
					list = []*jobs.Status{}
				}
				return writeJSON(os.Stdout, list)
			}
			rows := make([][]string, 0, len(list))
			for _, st := range list {
				rows = append(rows, []string{st.Name, st.State, fmt.Sprintf("%d/%d", st.Done, st.Partitions), st.Started.Local().Format("2006-01-02 15:04:05"), st.Dir})
			}
			return writeTable(os.Stdout, []string{"job", "state", "done", "started", "dir"}, rows)
		},
	}
}
