// Package storage manages the S3 buckets that hold each space's files, through
// minio-go against any S3-compatible server.
package storage

import "time"

// CreateBucketInput asks for a bucket.
type CreateBucketInput struct{ Bucket string }

// CreateBucketResult says whether the bucket was created by this call (false: it
// already existed, as after a retry).
type CreateBucketResult struct{ Created bool }

// DeleteBucketInput asks to delete a bucket with every object and object version.
type DeleteBucketInput struct{ Bucket string }

// DeleteBucketResult counts what was removed, including by earlier attempts.
type DeleteBucketResult struct{ ObjectsRemoved int64 }

// EnableFileHistoryInput asks for versioning and the expiry of old versions in a
// space's bucket.
type EnableFileHistoryInput struct{ Bucket string }

// EnableFileHistoryResult says what this call changed (false: it was already so).
type EnableFileHistoryResult struct {
	VersioningEnabled bool
	LifecycleSet      bool
}

// RestoreObjectsInput asks for a bucket's objects as they were at At.
type RestoreObjectsInput struct {
	Bucket string
	At     time.Time
	// DryRun lists the changes without making them.
	DryRun bool
	// MaxListed bounds the changes listed in the result (0: 100); counts stay exact.
	MaxListed int
}

// Actions of ObjectChange.
const (
	ObjectRestored = "restored" // the version of the time copied over the current one
	ObjectRemoved  = "removed"  // a delete marker: the object did not exist at the time
)

// ObjectChange is what a restore does, or would do, to one object.
type ObjectChange struct {
	Key       string
	Action    string
	VersionID string // of the version put back
	Size      int64
}

// RestoreObjectsResult counts what a restore changed, or would change.
type RestoreObjectsResult struct {
	Restored  int
	Removed   int
	Unchanged int
	Changes   []ObjectChange // the first MaxListed
}
