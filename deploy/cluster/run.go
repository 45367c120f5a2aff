package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"jardinier/deploy/devstack"
	"jardinier/models"
)

// DefaultUIPort is where `make cluster` serves the Temporal web UI, as `make dev` does.
const DefaultUIPort = 8233

// RunOptions configure Run.
type RunOptions struct {
	Config models.Config
	// Getenv reads the cluster's own variables, TEMPORAL_DATABASE_URL and
	// TEMPORAL_UI_PORT; nil means os.Getenv.
	Getenv        func(string) string
	Workers, APIs int
	Stdout        io.Writer
	Logger        *slog.Logger
}

// Run runs the whole system on a real Temporal cluster from the repository's
// .cluster/ directory, prints where to reach it, and stops what it started when ctx
// is cancelled (Ctrl-C) or any process ends.
func Run(ctx context.Context, o RunOptions) error {
	root, err := devstack.RepoRoot()
	if err != nil {
		return err
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	uiPort := DefaultUIPort
	if v := o.Getenv("TEMPORAL_UI_PORT"); v != "" {
		if uiPort, err = strconv.Atoi(v); err != nil || uiPort < 0 || uiPort > 65535 {
			return fmt.Errorf("TEMPORAL_UI_PORT %q: want a TCP port, or 0 for no web UI", v)
		}
	}
	c, err := Start(ctx, Options{
		Config:              o.Config,
		TemporalDatabaseURL: o.Getenv("TEMPORAL_DATABASE_URL"),
		StateDir:            filepath.Join(root, ".cluster"),
		Workers:             o.Workers,
		APIs:                o.APIs,
		Cron:                true,
		UIPort:              uiPort,
		Output:              os.Stderr,
		Logger:              o.Logger,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "\nJardinier is running on a Temporal cluster (Ctrl-C stops what was started):\n%s", c.Summary())
	exited := make(chan *devstack.Process, 1)
	for _, p := range c.Processes() {
		go func() {
			<-p.Exited()
			select {
			case exited <- p:
			default:
			}
		}()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(o.Stdout, "Stopping...")
		return c.Stop()
	case p := <-exited:
		c.Stop()
		return fmt.Errorf("%s stopped; its last output:\n%s", p.Name(), p.LastLines())
	}
}

// Summary tells where each part of the running cluster is reached.
func (c *Cluster) Summary() string {
	line := func(name, what string) string { return fmt.Sprintf("  %-12s %s\n", name, what) }
	s := line("Site", c.APIURLs[0]+"/   (apply for a space, follow an application)")
	s += line("Console", c.APIURLs[0]+"/moderation/   (the moderators' console)")
	for i, u := range c.APIURLs {
		s += line(fmt.Sprintf("API %d", i+1), u+"/api/v1   (health: /healthz, /readyz)")
	}
	ui := c.UIURL
	if ui == "" {
		ui = "none (TEMPORAL_UI_PORT=0)"
	}
	s += line("Temporal UI", ui)
	s += line("Temporal", fmt.Sprintf("%s, namespace %s   temporal-server %s, every service in one process, on PostgreSQL",
		c.Config.TemporalAddress, c.Config.TemporalNamespace, "(deploy/cluster/temporal.yaml)"))
	for _, svc := range c.Services {
		s += line(svc.Name, fmt.Sprintf("%s   %s", svc.Addr, svc.How()))
	}
	s += line("Workers", fmt.Sprintf("%d processes", len(c.Workers)))
	if c.Cron != nil {
		s += line("Cron", fmt.Sprintf("every %s, %d at once", c.Config.Cron.Every, c.Config.Cron.Concurrency))
	}
	if c.Config.SMTPURL == "" {
		s += line("Mails", "written as .eml files under "+c.Config.MailDir)
	}
	return s
}
