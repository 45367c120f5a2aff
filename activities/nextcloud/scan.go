package nextcloud

import (
	"context"
	"fmt"
	"strings"
)

// OpScanFiles names the simulator's file scan, for InjectFailure.
const OpScanFiles = "ScanFiles"

// FileScanner is a driver that can have Nextcloud check its file cache against the
// bucket, as a restore of the files requires: the cache must list what the bucket now
// holds. Both drivers implement it.
type FileScanner interface {
	// ScanFiles checks every user's files (occ files:scan --all) and returns what
	// the scan reported. Scanning again changes nothing.
	ScanFiles(ctx context.Context, slug string) (string, error)
}

// Both drivers scan.
var (
	_ FileScanner = (*Occ)(nil)
	_ FileScanner = (*Simulator)(nil)
)

// ScanFiles implements FileScanner: occ files:scan --all.
func (d *Occ) ScanFiles(ctx context.Context, slug string) (string, error) {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return "", err
	}
	out, err := d.occ(ctx, slug, "files:scan", "--all")
	if err != nil {
		return "", fmt.Errorf("scan files of %s: %w", slug, occError(err))
	}
	return strings.TrimSpace(string(out)), nil
}

// ScanFiles implements FileScanner: the simulator holds no file cache, and answers as
// a scan that found everything in order.
func (s *Simulator) ScanFiles(ctx context.Context, slug string) (string, error) {
	err := s.change(ctx, OpScanFiles, slug, nil, func(*simSpace) error { return nil })
	if err != nil {
		return "", err
	}
	return "simulated scan: file cache in order", nil
}

// ScanFilesInput asks for the check of a space's file cache.
type ScanFilesInput struct{ Slug string }

// ScanFilesResult is what the scan reported.
type ScanFilesResult struct{ Output string }

// ScanSpaceFiles has Nextcloud check the space's file cache against its bucket. It
// heartbeats while the scan runs: a space of 100,000 files takes minutes.
func (a *Activities) ScanSpaceFiles(ctx context.Context, in ScanFilesInput) (ScanFilesResult, error) {
	logger := a.logger(ctx, in.Slug)
	scanner, ok := a.Driver.(FileScanner)
	if !ok {
		return ScanFilesResult{}, a.failure(logger, "scan files of space", in.Slug,
			fmt.Errorf("driver %s cannot scan files: %w", a.Driver.Name(), ErrPermanent))
	}
	var res ScanFilesResult
	err := heartbeating(ctx, func() (err error) {
		res.Output, err = scanner.ScanFiles(ctx, in.Slug)
		return err
	})
	if err != nil {
		return ScanFilesResult{}, a.failure(logger, "scan files of space", in.Slug, err)
	}
	if len(res.Output) > 2000 {
		res.Output = res.Output[len(res.Output)-2000:]
	}
	logger.Info("File cache checked")
	return res, nil
}
