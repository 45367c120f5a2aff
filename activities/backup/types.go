// Package backup dumps the spaces' databases into the backup bucket, restores them,
// and deletes the dumps the retention no longer keeps.
package backup

import "time"

// DumpInput asks for one dump of a space's database.
type DumpInput struct {
	SpaceID uint
	Slug    string
	Kind    string // models.BackupNightly or models.BackupSnapshot
	// At names the dump (models.BackupKey): the night of a nightly run, the time of a
	// snapshot. A retry with the same At finds the dump already made.
	At time.Time
}

// DumpResult describes the dump.
type DumpResult struct {
	Key       string
	TakenAt   time.Time
	SizeBytes int64
	SHA256    string
	Duration  time.Duration
	// Reused: the dump had been made by an earlier attempt, none was made again.
	Reused bool
}

// RestoreDatabaseInput asks for a space's database as it was at At.
type RestoreDatabaseInput struct {
	SpaceID uint
	Slug    string
	At      time.Time
	// DryRun only says which backup would be restored.
	DryRun bool
}

// RestoreDatabaseResult names the backup restored, the newest taken at or before At.
type RestoreDatabaseResult struct {
	Key       string
	TakenAt   time.Time
	SizeBytes int64
}

// ExpireInput asks for the expiry pass at Now.
type ExpireInput struct{ Now time.Time }

// ExpireResult counts the dumps deleted.
type ExpireResult struct {
	Expired int
	Bytes   int64
}

// ListSpacesInput pages through spaces by slug.
type ListSpacesInput struct {
	After    string
	Limit    int
	Statuses []string // models.Status values
	// NotBackedUpSince leaves out the spaces with a good nightly backup named at this
	// time (zero: none left out): a run started again for the same night skips them.
	NotBackedUpSince time.Time
}

// SpaceRef is a space a fleet pass works on.
type SpaceRef struct {
	ID     uint
	Slug   string
	Bucket string
}

// ListSpacesResult is one page, and the total of spaces matching when After is "".
type ListSpacesResult struct {
	Spaces []SpaceRef
	Total  int
}
