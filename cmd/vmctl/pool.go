package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/jobs"
)

func poolCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "pool",
		Usage: "long-running pools",
		Subcommands: []*cli.Command{{
			Name: "run",
			Usage: "serve a spool directory: every job spec dropped in it runs (on its own, usually autoscaled, pool) " +
				"and moves to done/ or failed/ with its job directory",
			Flags: append(jobFlags(),
				&cli.StringFlag{Name: "spool", Required: true, Usage: "spool `DIR` to watch for *.yaml job specs"},
				&cli.DurationFlag{Name: "poll", Value: 2 * time.Second, Usage: "how often to look for new specs"},
				&cli.BoolFlag{Name: "once", Usage: "run what is spooled now, then exit"},
				&cli.BoolFlag{Name: "native", Usage: "run the jobs as host processes"},
			),
			Action: func(c *cli.Context) error { return servePool(c, log) },
		}},
	}
}

// servePool takes specs from the spool in name order. A spec is moved to
// running/ before it starts, so two pools on one spool never run it twice
// (rename is atomic), and to done/ or failed/ after, next to its job
// directory. It stops on a signal (the running job cleans up first) or,
// with --once, when the spool is empty. Workers that jobs could not remove
// are logged as they happen and named again in the error it returns when
// it stops (exit 3).
func servePool(c *cli.Context, log *logrus.Logger) (err error) {
	var left error
	defer func() { err = errors.Join(err, left) }()
	spool := c.String("spool")
	for _, d := range []string{"running", "done", "failed"} {
		if err := os.MkdirAll(filepath.Join(spool, d), 0o755); err != nil {
			return fmt.Errorf("spool %s: %w", spool, err)
		}
	}
	for {
		specs, err := filepath.Glob(filepath.Join(spool, "*.yaml"))
		if err != nil {
			return err
		}
		sort.Strings(specs)
		for _, spec := range specs {
			if c.Context.Err() != nil {
				return nil
			}
			err := runSpooled(c, log, spool, spec)
			switch {
			case hypervisor.OnlyLeftBehind(err):
				log.WithError(err).WithField("spec", filepath.Base(spec)).Error("spooled job done, but left resources behind")
				left = errors.Join(left, err)
			case err != nil:
				log.WithError(err).WithField("spec", filepath.Base(spec)).Error("spooled job failed")
				left = errors.Join(left, hypervisor.JoinLeftovers(hypervisor.Leftovers(err)))
			}
		}
		if c.Bool("once") && len(specs) == 0 {
			return nil
		}
		select {
		case <-c.Context.Done():
			return nil
		case <-time.After(c.Duration("poll")):
		}
	}
}

func runSpooled(c *cli.Context, log *logrus.Logger, spool, spec string) error {
	base := strings.TrimSuffix(filepath.Base(spec), ".yaml")
	running := filepath.Join(spool, "running", filepath.Base(spec))
	if err := os.Rename(spec, running); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // another pool took it
		}
		return err
	}
	dir := filepath.Join(spool, "running", base+".job")
	log.WithField("spec", filepath.Base(spec)).Info("starting spooled job")
	s, err := jobs.Load(running)
	if err == nil {
		err = runJob(c, log, s, dir, c.Bool("native"), false)
	}
	// A job whose only trouble is workers it could not remove is done:
	// its result stands; base.left-behind names them.
	dest := "done"
	switch {
	case hypervisor.OnlyLeftBehind(err):
		os.WriteFile(filepath.Join(spool, "running", base+".left-behind"), []byte(err.Error()+"\n"), 0o644)
	case err != nil:
		dest = "failed"
		os.WriteFile(filepath.Join(spool, "running", base+".error"), []byte(err.Error()+"\n"), 0o644)
	}
	for _, name := range []string{filepath.Base(spec), base + ".job", base + ".error", base + ".left-behind"} {
		from := filepath.Join(spool, "running", name)
		if _, serr := os.Stat(from); serr == nil {
			os.RemoveAll(filepath.Join(spool, dest, name))
			if rerr := os.Rename(from, filepath.Join(spool, dest, name)); rerr != nil && err == nil {
				err = rerr
			}
		}
	}
	return err
}
