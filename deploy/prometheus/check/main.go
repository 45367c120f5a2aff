// Command check loads the alert rules and the Grafana dashboard of deploy/ with
// Prometheus' own parsers (rulefmt, PromQL) and, given what Jardinier's processes
// expose at /metrics, reports any metric a rule or a panel reads that none exposes.
//
//	go run . -rules ../alerts.yml -dashboard ../../grafana/jardinier.json [-exposed scrape.txt]
//
// It is a module of its own so that Prometheus' dependencies stay out of Jardinier's
// binary; `make lint` and the end-to-end metrics test run it.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	rulesPath := fs.String("rules", "", "alert rules file")
	dashboardPath := fs.String("dashboard", "", "Grafana dashboard (JSON)")
	exposedPath := fs.String("exposed", "", "what the processes expose at /metrics, in Prometheus' text format; empty skips the check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rulesPath == "" || *dashboardPath == "" {
		return fmt.Errorf("-rules and -dashboard are required")
	}
	rules, err := LoadRules(*rulesPath)
	if err != nil {
		return err
	}
	panels, err := LoadDashboard(*dashboardPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "rules=%d panels=%d\n", len(rules), len(panels))
	if *exposedPath == "" {
		return nil
	}
	exposed, err := exposedNames(*exposedPath)
	if err != nil {
		return err
	}
	var problems []string
	for _, r := range rules {
		if m := Missing(r.Metrics, exposed); len(m) > 0 {
			problems = append(problems, fmt.Sprintf("alert %s reads %s, which nothing exposes", r.Alert, strings.Join(m, ", ")))
		}
	}
	for _, p := range panels {
		if m := Missing(p.Metrics, exposed); len(m) > 0 {
			problems = append(problems, fmt.Sprintf("panel %q reads %s, which nothing exposes", p.Title, strings.Join(m, ", ")))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems:\n%s", len(problems), strings.Join(problems, "\n"))
	}
	fmt.Fprintf(out, "every metric read is exposed (%d families)\n", len(exposed))
	return nil
}

// exposedNames reads the metric families of a scrape (several scrapes concatenated
// are fine: a family repeated is merged).
func exposedNames(path string) (map[string]bool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	// Each process's scrape is parsed alone: a family may appear in two of them.
	for _, part := range strings.Split(string(raw), "\n# SCRAPE\n") {
		p := expfmt.NewTextParser(model.UTF8Validation)
		families, err := p.TextToMetricFamilies(strings.NewReader(part))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for name := range families {
			names[name] = true
		}
	}
	return names, nil
}
