package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// builtin are the series Prometheus makes itself, which no process exposes.
var builtin = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"}

// Rule is one alerting rule and the metrics its expression reads.
type Rule struct {
	Alert   string
	Metrics []string
}

// LoadRules parses an alert rules file as Prometheus loads it (unknown fields refused,
// expressions and annotation templates checked) and returns its rules.
func LoadRules(path string) ([]Rule, error) {
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", path, errs[0])
	}
	var rules []Rule
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			names, err := metricsOf(p, r.Expr)
			if err != nil {
				return nil, fmt.Errorf("%s: alert %s: %w", path, r.Alert, err)
			}
			rules = append(rules, Rule{Alert: r.Alert, Metrics: names})
		}
	}
	return rules, nil
}

// Panel is one panel of the dashboard and the metrics its queries read.
type Panel struct {
	Title   string
	Metrics []string
}

// LoadDashboard reads a Grafana dashboard and parses every panel's query.
func LoadDashboard(path string) ([]Panel, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d struct {
		Title  string
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if d.Title == "" || len(d.Panels) == 0 {
		return nil, fmt.Errorf("%s: a dashboard needs a title and panels", path)
	}
	p := parser.NewParser(parser.Options{})
	var panels []Panel
	for _, pn := range d.Panels {
		if pn.Type == "row" {
			continue
		}
		if len(pn.Targets) == 0 {
			return nil, fmt.Errorf("%s: panel %q has no query", path, pn.Title)
		}
		var names []string
		for _, t := range pn.Targets {
			n, err := metricsOf(p, t.Expr)
			if err != nil {
				return nil, fmt.Errorf("%s: panel %q: %w", path, pn.Title, err)
			}
			names = append(names, n...)
		}
		slices.Sort(names)
		panels = append(panels, Panel{Title: pn.Title, Metrics: slices.Compact(names)})
	}
	return panels, nil
}

// metricsOf returns the metric names an expression selects, built-in series left out.
func metricsOf(p parser.Parser, expr string) ([]string, error) {
	e, err := p.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" && !slices.Contains(builtin, vs.Name) {
			names = append(names, vs.Name)
		}
		return nil
	})
	if len(names) == 0 && !strings.Contains(expr, "up") {
		return nil, fmt.Errorf("%q reads no metric", expr)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Missing returns the names among want that exposed (metric families as scraped, with
// histograms' _bucket, _sum and _count) does not have.
func Missing(want []string, exposed map[string]bool) []string {
	var missing []string
	for _, n := range want {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suffix); ok && exposed[b] {
				base = b
			}
		}
		if !exposed[base] {
			missing = append(missing, n)
		}
	}
	return missing
}
