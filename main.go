// Command jardinier runs the parts of Jardinier: the API, the worker, the development
// stack, and the administration commands.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"jardinier/api"
	"jardinier/deploy/cluster"
	"jardinier/deploy/devstack"
	"jardinier/models"
	"jardinier/models/metrics"
	"jardinier/worker"
	"jardinier/worker/bench"
	"jardinier/worker/cron"
	"jardinier/workflows"
)

const usage = `usage: jardinier COMMAND

Commands:
  api                                    serve the HTTP API
  worker                                 run the Temporal worker
  cron                                   run every space's background jobs (cron.php)
                                         every CRON_EVERY; one or more per web node
  dev                                    run the whole system here, starting the servers
                                         not found running (make dev)
  cluster [--workers N --apis N]        run the whole system here on a real Temporal
                                         cluster (make cluster): the Temporal server on
                                         PostgreSQL, N workers, N API instances, cron
  moderator add --name NAME --role ROLE [--email ADDRESS]
                                         create a moderator (ROLE: moderator or admin)
                                         and print their API token; with an address,
                                         they sign in to the console (README.md)
  bench-provision [--spaces N --cluster] submit and accept N applications, and report
  bench-idle [--spaces N --cluster]      bring N active spaces under watch, and report
  bench-upgrade [--spaces N --concurrency C --occ T --profile DIR --cluster]
                                         upgrade N simulated spaces, C at once, and report;
                                         DIR gets the worker's CPU and heap profiles;
                                         --cluster: on the real Temporal server
  bench-backup [--spaces N --size BYTES --concurrency C]
                                         back up N simulated spaces, dumps of BYTES
                                         each, C at once, and report
  space restore --slug S --at TIME --reason R [--dry-run]
                                         put a space back as it was at TIME (RFC 3339)
  bench-cron [--spaces N --interval I --concurrency C --cron T]
                                         run the background jobs of N simulated spaces,
                                         each run taking T, and report
  bench-mail [--mails N --rate R --urgent U]
                                         send an announcement to N people at MAIL_RATE=R,
                                         ask for U confirmation links meanwhile, and report
  bench-api [--applications N --spaces S --clients C --requests R]
                                         fill a database with N applications, S spaces in
                                         service, and time the moderators' screens

Configuration comes from the environment: see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var usageErr usageError
	switch {
	case errors.As(err, &usageErr):
		fmt.Fprintf(os.Stderr, "%s\n\n%s", usageErr, usage)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "jardinier: %v\n", err)
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("missing command")
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := models.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "api":
		return api.Run(ctx, cfg, logger)
	case "worker":
		return worker.Run(ctx, cfg, logger)
	case "cron":
		return runCron(ctx, cfg, logger)
	case "dev":
		return devstack.RunDev(ctx, devstack.DevOptions{Config: cfg, Getenv: os.Getenv, Stdout: stdout, Logger: logger})
	case "cluster":
		return clusterCommand(ctx, cfg, args[1:], stdout, logger)
	case "moderator":
		return moderatorCommand(ctx, cfg, args[1:], stdout, logger)
	case "bench-backup":
		return benchBackup(ctx, cfg, args[1:], stdout, logger)
	case "space":
		return spaceCommand(ctx, cfg, args[1:], stdout, logger)
	case "bench-provision":
		return benchProvision(ctx, cfg, args[1:], stdout, logger)
	case "bench-idle":
		return benchIdle(ctx, cfg, args[1:], stdout, logger)
	case "bench-upgrade":
		return benchUpgrade(ctx, cfg, args[1:], stdout, logger)
	case "bench-cron":
		return benchCron(ctx, cfg, args[1:], stdout, logger)
	case "bench-mail":
		return benchMail(ctx, cfg, args[1:], stdout, logger)
	case "bench-api":
		return benchAPI(ctx, cfg, args[1:], stdout, logger)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError(fmt.Sprintf("unknown command %q", args[0]))
}

func clusterCommand(ctx context.Context, cfg models.Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	workers := fs.Int("workers", 2, "worker processes")
	apis := fs.Int("apis", 2, "API instances, on API_ADDR and the next ports")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *workers < 1 || *apis < 1 {
		return usageError("--workers and --apis must be at least 1")
	}
	return cluster.Run(ctx, cluster.RunOptions{Config: cfg, Workers: *workers, APIs: *apis, Stdout: stdout, Logger: logger})
}

func moderatorCommand(ctx context.Context, cfg models.Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError("usage: jardinier moderator add --name NAME --role moderator|admin [--email ADDRESS]")
	}
	fs := flag.NewFlagSet("moderator add", flag.ContinueOnError)
	name := fs.String("name", "", "the moderator's name, as recorded in the audit trail")
	role := fs.String("role", string(models.RoleModerator), "moderator or admin")
	email := fs.String("email", "", "the address the console's mails go to; empty for a script's account")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	db, err := models.OpenDB(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	token, _, err := models.AddModerator(ctx, db, *name, models.Role(*role), *email)
	if err != nil {
		var e *models.Error
		if errors.As(err, &e) && e.Field != "" {
			return fmt.Errorf("--%s: %s", e.Field, e.Message)
		}
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

func benchProvision(ctx context.Context, cfg models.Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("bench-provision", flag.ContinueOnError)
	spaces := fs.Int("spaces", 1000, "applications to submit and accept")
	clients := fs.Int("concurrency", 16, "HTTP clients at once")
	onCluster := fs.Bool("cluster", false, "run on the real Temporal server of make cluster, not the development server")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *spaces < 1 || *clients < 1 {
		return usageError("--spaces and --concurrency must be at least 1")
	}
	r, err := bench.Provision(ctx, bench.ProvisionOptions{Config: cfg, Spaces: *spaces, Concurrency: *clients,
		Cluster: *onCluster, Output: stdout, Logger: logger})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, r)
	return err
}

func benchAPI(ctx context.Context, cfg models.Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("bench-api", flag.ContinueOnError)
	apps := fs.Int("applications", 100000, "applications written, each with its space row")
	spaces := fs.Int("spaces", 10000, "of them, spaces in service")
	clients := fs.Int("clients", 8, "requests at once")
	requests := fs.Int("requests", 200, "requests per endpoint")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *apps < 1 || *spaces < 1 || *spaces > *apps || *clients < 1 || *requests < 1 {
		return usageError("--applications, --spaces, --clients and --requests must be at least 1, --spaces at most --applications")
	}
	r, err := bench.API(ctx, bench.APIOptions{Config: cfg, Applications: *apps, Spaces: *spaces, Clients: *clients,
		Requests: *requests, Output: stdout, Logger: logger})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, r)
	return err
}

func benchIdle(ctx context.Context, cfg models.Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("bench-idle", flag.ContinueOnError)
	spaces := fs.Int("spaces", 10000, "active spaces to bring under watch")
	clients := fs.Int("concurrency", 32, "workflow starts at once")
	onCluster := fs.Bool("cluster", false, "run on the real Temporal server of make cluster, not the development server")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *spaces < 1 || *clients < 1 {
		return usageError("--spaces and --concurrency must be at least 1")
	}
	r, err := bench.Idle(ctx, bench.IdleOptions{Config: cfg, Spaces: *spaces, Concurrency: *clients,
		Cluster: *onCluster, Output: stdout, Logger: logger})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, r)
	return err
}

func benchUpgrade(ctx context.Context, cfg models.Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("bench-upgrade", flag.ContinueOnError)
	spaces := fs.Int("spaces", 200, "spaces to upgrade")
	concurrency := fs.Int("concurrency", 20, "spaces upgrading at once")
	occ := fs.Duration("occ", 2*time.Second, "how long the simulated occ upgrade of one space takes")
	profile := fs.String("profile", "", "directory where the worker's CPU and heap profiles of the run are written")
	onCluster := fs.Bool("cluster", false, "run on the real Temporal server of make cluster, not the development server")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *spaces < 1 || *concurrency < 1 || *occ <= 0 {
		return usageError("--spaces and --concurrency must be at least 1, --occ positive")
	}
	r, err := bench.Upgrade(ctx, bench.UpgradeOptions{Config: cfg, Spaces: *spaces, Concurrency: *concurrency, OCC: *occ,
		Profile: *profile, Cluster: *onCluster, Output: stdout, Logger: logger})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, r)
	return err
}

// runCron runs the cron service until ctx is cancelled.
func runCron(ctx context.Context, cfg models.Config, logger *slog.Logger) error {
	db, err := models.OpenDB(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	driver, err := worker.NewNextcloudDriver(cfg, logger)
	if err != nil {
		return err
	}
	reg := metrics.New(logger)
	defer reg.Close()
	if err := reg.Serve(ctx, cfg.MetricsAddr, cfg.MetricsPprof, logger); err != nil {
		return err
	}
	r, err := cron.New(cron.Options{DB: db, Driver: driver, Config: cfg.Cron, Logger: logger, Metrics: reg})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

func benchCron(ctx context.Context, cfg models.Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("bench-cron", flag.ContinueOnError)
	spaces := fs.Int("spaces", 10000, "simulated spaces in service")
	interval := fs.Duration("interval", 5*time.Minute, "each space's background jobs run once per interval (CRON_EVERY)")
	concurrency := fs.Int("concurrency", 64, "runs at once (CRON_CONCURRENCY)")
	run := fs.Duration("cron", 2*time.Second, "how long one simulated run of cron.php takes")
	rounds := fs.Int("rounds", 2, "intervals to measure, after the first due time")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *spaces < 1 || *concurrency < 1 || *rounds < 1 || *interval <= 0 || *run < 0 {
		return usageError("--spaces, --concurrency and --rounds must be at least 1, --interval positive, --cron not negative")
	}
	r, err := bench.Cron(ctx, bench.CronOptions{Config: cfg, Spaces: *spaces, Interval: *interval,
		Concurrency: *concurrency, Run: *run, Rounds: *rounds, Output: stdout, Logger: logger})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, r)
	return err
}

func benchMail(ctx context.Context, cfg models.Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("bench-mail", flag.ContinueOnError)
	mails := fs.Int("mails", 10000, "people the announcement reaches")
	rate := fs.Float64("rate", 50, "MAIL_RATE, mails per second")
	urgent := fs.Int("urgent", 20, "confirmation links asked for during the announcement")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *mails < 1 || !(*rate > 0) || *urgent < 0 {
		return usageError("--mails must be at least 1, --rate above 0, --urgent not negative")
	}
	r, err := bench.Mail(ctx, bench.MailOptions{Config: cfg, Mails: *mails, Rate: *rate, Urgent: *urgent,
		Output: stdout, Logger: logger})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, r)
	return err
}

// spaceCommand runs `jardinier space restore`: the same restore as
// POST /api/v1/spaces/{slug}/restore, sent to the space's workflow from here.
func spaceCommand(ctx context.Context, cfg models.Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	const use = "usage: jardinier space restore --slug SLUG --at TIME --reason REASON [--dry-run] [--actor NAME]"
	if len(args) == 0 || args[0] != "restore" {
		return usageError(use)
	}
	fs := flag.NewFlagSet("space restore", flag.ContinueOnError)
	slug := fs.String("slug", "", "the space to restore")
	at := fs.String("at", "", "the time to go back to, RFC 3339 (2026-11-30T18:00:00+01:00)")
	reason := fs.String("reason", "", "why, for the space's timeline and the contact's mail")
	dryRun := fs.Bool("dry-run", false, "only say what would change")
	actor := fs.String("actor", "ops", "who restores, as the audit trail records it")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	if *slug == "" {
		return usageError("--slug: required; " + use)
	}
	in, err := api.ParseRestore(*actor, *at, *reason, *dryRun)
	if err != nil {
		return flagError(err)
	}
	c, err := workflows.Dial(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := api.SendRestore(ctx, c, *slug, in)
	if err != nil {
		return flagError(err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// flagError names the flag of a field error.
func flagError(err error) error {
	var e *models.Error
	if errors.As(err, &e) && e.Field != "" {
		return fmt.Errorf("--%s: %s", strings.ReplaceAll(e.Field, "_", "-"), e.Message)
	}
	return err
}

func benchBackup(ctx context.Context, cfg models.Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("bench-backup", flag.ContinueOnError)
	spaces := fs.Int("spaces", 200, "simulated spaces in service to back up")
	size := fs.Int64("size", 20<<20, "bytes of each simulated dump")
	concurrency := fs.Int("concurrency", 4, "dumps at once (BACKUP_CONCURRENCY)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *spaces < 1 || *concurrency < 1 || *size < 0 {
		return usageError("--spaces and --concurrency must be at least 1, --size not negative")
	}
	r, err := bench.Backup(ctx, bench.BackupOptions{Config: cfg, Spaces: *spaces, DumpBytes: *size, Concurrency: *concurrency,
		Output: stdout, Logger: logger})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, r)
	return err
}
