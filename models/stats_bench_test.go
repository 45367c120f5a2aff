package models_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/models/modeltest"
)

// pick is an SQL expression choosing one of values at random.
func pick(values []string) string {
	return fmt.Sprintf("(ARRAY['%s'])[1 + floor(random() * %d)::int]", strings.Join(values, "','"), len(values))
}

func bandCodes(bands []models.Band) []string {
	var codes []string
	for _, b := range bands {
		codes = append(codes, b.Code)
	}
	return codes
}

// BenchmarkYearlyStats makes the report of 2025 over 100,000 statistics records (2022
// to 2025) and 10,000 spaces: `make bench-stats`.
func BenchmarkYearlyStats(b *testing.B) {
	const records, spaces = 100_000, 10_000
	db := modeltest.NewDB(b)
	var types []string
	for _, t := range models.OrganizationTypes {
		types = append(types, string(t))
	}
	require.NoError(b, db.Exec(fmt.Sprintf(`INSERT INTO stats_records (id, organization_type, sectors, founded_period,
		employees_band, members_band, beneficiaries_band, budget_band, accounts_requested, office_suite, submitted_month,
		outcome, held_month, decided_month, created_month, state, deactivated_month, deactivation_cause, end_month, end_cause)
		SELECT gen_random_uuid(), %s, ARRAY[%s, %s], %s, %s, %s, %s, %s, 1 + floor(random() * 50)::int, %s, month,
			CASE WHEN r < 0.05 THEN 'waiting' WHEN r < 0.1 THEN 'on_hold' WHEN r < 0.8 THEN 'accepted' WHEN r < 0.9 THEN 'rejected' ELSE 'withdrawn' END,
			CASE WHEN r BETWEEN 0.05 AND 0.3 THEN month ELSE 0 END,
			CASE WHEN r BETWEEN 0.1 AND 0.9 THEN month ELSE 0 END,
			CASE WHEN r BETWEEN 0.1 AND 0.8 THEN month ELSE 0 END,
			CASE WHEN r < 0.05 THEN 'submitted' WHEN r < 0.1 THEN 'on_hold' WHEN r < 0.8 THEN
				(CASE WHEN r2 < 0.7 THEN 'active' WHEN r2 < 0.8 THEN 'deactivated' ELSE 'deleted' END)
				WHEN r < 0.9 THEN 'rejected' ELSE 'withdrawn' END,
			CASE WHEN r BETWEEN 0.1 AND 0.8 AND r2 >= 0.7 THEN month ELSE 0 END,
			CASE WHEN r BETWEEN 0.1 AND 0.8 AND r2 >= 0.7 THEN %s ELSE '' END,
			CASE WHEN r >= 0.9 OR (r BETWEEN 0.1 AND 0.8 AND r2 >= 0.8) THEN month ELSE 0 END,
			CASE WHEN r >= 0.9 THEN 'withdrawn' WHEN r BETWEEN 0.1 AND 0.8 AND r2 >= 0.8 THEN %s ELSE '' END
		FROM (SELECT random() AS r, random() AS r2, (2022 + floor(random() * 4)::int) * 100 + 1 + floor(random() * 12)::int AS month
			FROM generate_series(1, %d)) AS g`,
		pick(types), pick(models.Sectors), pick(models.Sectors), pick(models.FoundedPeriods(2025)),
		pick(bandCodes(models.EmployeeBands)), pick(bandCodes(models.MemberBands)), pick(bandCodes(models.BeneficiaryBands)),
		pick(append(bandCodes(models.BudgetBands), models.BudgetNotGiven)), pick([]string{"collabora", "onlyoffice", "none"}),
		pick(models.StatsDeactivationCauses), pick(models.StatsEndCauses[:3]), records)).Error)
	now := time.Date(2025, 12, 20, 12, 0, 0, 0, time.UTC)
	require.NoError(b, db.Exec(fmt.Sprintf(`INSERT INTO spaces (slug, status, office_suite, submitted_at, accounts,
		storage_used_bytes, usage_at, last_activity_at, updated_at)
		SELECT 'bench-' || g, CASE WHEN random() < 0.9 THEN 'active' ELSE 'deactivated' END, %s, @now,
			1 + floor(random() * 20)::int, floor(random() * 5e9)::bigint, @now, CAST(@now AS timestamptz) - random() * interval '30 days', @now
		FROM generate_series(1, %d) AS g`, pick([]string{"collabora", "onlyoffice", "none"}), spaces),
		map[string]any{"now": now}).Error)
	require.NoError(b, db.Exec("VACUUM ANALYZE").Error) // as autovacuum would

	// The machine is shared: besides the wall time, the CPU time the report takes in
	// this process and in its PostgreSQL backend (one connection, no parallel workers)
	// tells what it costs on an idle machine.
	sqlDB, err := db.DB()
	require.NoError(b, err)
	sqlDB.SetMaxOpenConns(1)
	require.NoError(b, db.Exec("SET max_parallel_workers_per_gather = 0").Error)
	var backend int
	require.NoError(b, db.Raw("SELECT pg_backend_pid()").Scan(&backend).Error)
	cpuBefore := processCPU(b, backend) + selfCPU(b)
	for b.Loop() {
		r, err := models.YearlyStats(b.Context(), db, 2025, now)
		require.NoError(b, err)
		require.NotZero(b, r.Applications)
	}
	cpu := processCPU(b, backend) + selfCPU(b) - cpuBefore
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/report")
	b.ReportMetric(records, "records")
	b.ReportMetric(spaces, "spaces")
}

// processCPU is the CPU time a process of this machine has used, from /proc.
func processCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err, "the benchmark reads the PostgreSQL backend's CPU time: the server must run on this machine")
	// Fields after the command name, which is in parentheses: utime and stime are the
	// 12th and 13th (clock ticks of 1/100 s on Linux).
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, err := strconv.ParseInt(fields[11], 10, 64)
	require.NoError(b, err)
	stime, err := strconv.ParseInt(fields[12], 10, 64)
	require.NoError(b, err)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// selfCPU is the CPU time this process has used.
func selfCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
