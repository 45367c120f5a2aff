package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

// consoleStats is the yearly statistics screen, /moderation/statistiques.
const consoleStats = "statistics"

// Geometry of the bar charts, in the SVG's own units: the labels on the left, the
// bars after them, the figure at the end of each bar.
const (
	chartWidth    = 640
	chartLabels   = 230
	chartBars     = 300
	chartBar      = 16 // one bar's thickness
	chartRowGap   = 10
	chartTopSpace = 6
)

// statsPage is what the statistics screen shows: the report of a year and, to compare,
// of another; each breakdown drawn as bars beside its table.
type statsPage struct {
	Year, Compare int // Compare is 0 without a comparison
	Report, Other *models.StatsReport
	Charts        []statsChart // the breakdowns of the year(s)
	FleetCharts   []statsChart // the fleet now, the same whatever the year
}

// statsChart is one breakdown as a chart and a table.
type statsChart struct {
	Key, Title      string
	Year, OtherYear int // OtherYear is 0 without a comparison
	Base, OtherBase int64
	Multiple        bool
	Compare         bool
	Rows            []statsRow
	// The SVG's geometry.
	Width, Height, BarsX, LabelX, Bar int
}

// statsRow is one cell of a breakdown, for both years, with its bars.
type statsRow struct {
	Label       string
	Cell, Other models.Cell
	LabelY      int
	Bar, Bar2   statsBar
}

// statsBar is one bar and the figure written after it.
type statsBar struct {
	Y, Width, TextX, TextY int
	Text                   string
}

// cellText is what a chart writes for a cell: "12 (40 %)", "< 5", "masqué".
func cellText(c models.Cell) string {
	switch {
	case c.Small:
		return "< 5"
	case c.Hidden:
		return "masqué"
	case c.Count == nil:
		return ""
	case c.Percent == nil:
		return strconv.FormatInt(*c.Count, 10)
	}
	return strconv.FormatInt(*c.Count, 10) + " (" + frenchPercent(*c.Percent) + ")"
}

// frenchPercent writes a share as French does: "40 %", "12,5 %".
func frenchPercent(p float64) string {
	text := strings.TrimSuffix(strconv.FormatFloat(p, 'f', 1, 64), ".0")
	return strings.Replace(text, ".", ",", 1) + "\u00a0%"
}

// newChart lays out the bars of a breakdown, and of the same breakdown of another
// year when other is not nil. Bars are as long as their percentage of the largest one;
// a withheld cell has none.
func newChart(b *models.Breakdown, year int, other *models.Breakdown, otherYear int) statsChart {
	ch := statsChart{Key: b.Key, Title: b.Title, Year: year, Base: b.Base, Multiple: b.Multiple, Compare: other != nil,
		Width: chartWidth, BarsX: chartLabels, LabelX: chartLabels - 8, Bar: chartBar}
	if other != nil {
		ch.OtherBase, ch.OtherYear = other.Base, otherYear
	}
	share := func(c models.Cell) float64 {
		if c.Percent == nil {
			return 0
		}
		return *c.Percent
	}
	largest := 0.0
	for _, c := range b.Cells {
		largest = max(largest, share(c))
		if other != nil {
			if oc := other.Cell(c.Code); oc != nil {
				largest = max(largest, share(*oc))
			}
		}
	}
	bar := func(c models.Cell, y int) statsBar {
		w := 0
		if largest > 0 {
			w = int(share(c) / largest * chartBars)
		}
		return statsBar{Y: y, Width: w, TextX: chartLabels + w + 6, TextY: y + chartBar - 3, Text: cellText(c)}
	}
	y := chartTopSpace
	for _, c := range b.Cells {
		row := statsRow{Label: c.Label, Cell: c, Bar: bar(c, y)}
		if other != nil {
			if oc := other.Cell(c.Code); oc != nil {
				row.Other = *oc
			}
			row.Bar2 = bar(row.Other, y+chartBar+2)
			row.LabelY = y + chartBar + 4
			y += 2*chartBar + 2 + chartRowGap
		} else {
			row.LabelY = y + chartBar - 3
			y += chartBar + chartRowGap
		}
		ch.Rows = append(ch.Rows, row)
	}
	ch.Height = y
	return ch
}

// Decimal writes a figure with a decimal comma: "4,8".
func (p *statsPage) Decimal(v float64) string {
	return strings.Replace(strconv.FormatFloat(v, 'f', 1, 64), ".", ",", 1)
}

// statsPageOf builds the screen from the reports, computed by the same function as
// GET /api/v1/stats.
func statsPageOf(year, compare int, r, other *models.StatsReport) *statsPage {
	p := &statsPage{Year: year, Compare: compare, Report: r, Other: other}
	for i := range r.Breakdowns {
		var ob *models.Breakdown
		if other != nil {
			ob = other.Breakdown(r.Breakdowns[i].Key)
		}
		p.Charts = append(p.Charts, newChart(&r.Breakdowns[i], year, ob, compare))
	}
	for i := range r.FleetTables {
		p.FleetCharts = append(p.FleetCharts, newChart(&r.FleetTables[i], year, nil, 0))
	}
	return p
}

// statsYears reads ?year= (this year by default) and ?compare= (none by default).
func (s *Server) statsYears(c *gin.Context) (year, compare int, errs []formError) {
	now := s.now()
	year = now.In(models.Paris).Year()
	read := func(field, label string, into *int) {
		v := c.Query(field)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err == nil {
			err = models.ValidateStatsYear(n, now)
		} else {
			err = models.FieldError(field, "doit être une année sur quatre chiffres")
		}
		var e *models.Error
		if errors.As(err, &e) {
			errs = append(errs, formError{Field: field, Message: label + " : " + e.Message})
			return
		}
		*into = n
	}
	read("year", "Année", &year)
	read("compare", "Année à comparer", &compare)
	return year, compare, errs
}

// statsScreen shows the yearly statistics, and compares two years.
func (s *Server) statsScreen(c *gin.Context) {
	v := s.newView(c, "statistiques", nil)
	year, compare, errs := s.statsYears(c)
	v.Form["year"], v.Form["compare"] = c.Query("year"), c.Query("compare")
	if v.Form["year"] == "" {
		v.Form["year"] = strconv.Itoa(year)
	}
	status := http.StatusOK
	if len(errs) > 0 {
		v.Errors, status = errs, http.StatusBadRequest
	}
	ctx := c.Request.Context()
	r, err := models.YearlyStats(ctx, s.db, year, s.now())
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	var other *models.StatsReport
	if compare != 0 {
		if other, err = models.YearlyStats(ctx, s.db, compare, s.now()); err != nil {
			s.writeConsoleError(c, err)
			return
		}
	}
	v.Page = statsPageOf(year, compare, r, other)
	s.renderConsole(c, status, consoleStats, v)
}

// statsScreenCSV gives the console's moderators the CSV of GET /api/v1/stats.
func (s *Server) statsScreenCSV(c *gin.Context) {
	year, _, errs := s.statsYears(c)
	if len(errs) > 0 {
		s.renderConsoleError(c, http.StatusBadRequest, consoleErrorPage, errs[0].Message)
		return
	}
	r, err := models.YearlyStats(c.Request.Context(), s.db, year, s.now())
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.writeStatsCSV(c, r)
}
