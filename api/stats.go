package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

// getStats answers the yearly statistics (models.YearlyStats) for ?year= (this year
// by default), as JSON or, with ?format=csv, as one CSV file.
func (s *Server) getStats(c *gin.Context) {
	now := s.now()
	year := now.In(models.Paris).Year()
	if v, ok := c.GetQuery("year"); ok {
		y, err := strconv.Atoi(v)
		if err != nil {
			s.writeError(c, models.FieldError("year", "doit être une année sur quatre chiffres, par exemple %d", year))
			return
		}
		year = y
	}
	format := c.DefaultQuery("format", "json")
	if format != "json" && format != "csv" {
		s.writeError(c, models.FieldError("format", "doit être json ou csv"))
		return
	}
	report, err := models.YearlyStats(c.Request.Context(), s.db, year, now)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if format == "json" {
		c.JSON(http.StatusOK, report)
		return
	}
	s.writeStatsCSV(c, report)
}

// writeStatsCSV answers the report as a CSV file to download.
func (s *Server) writeStatsCSV(c *gin.Context, report *models.StatsReport) {
	c.Header("Content-Disposition", "attachment; filename=statistiques-"+strconv.Itoa(report.Year)+".csv")
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Status(http.StatusOK)
	if err := report.WriteCSV(c.Writer); err != nil {
		s.logger.Error("Write statistics CSV", "year", report.Year, "error", err)
	}
}
