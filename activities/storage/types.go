// Package storage manages the S3 buckets that hold each space's files, through
// minio-go against any S3-compatible server.
package storage

// CreateBucketInput asks for a bucket.
type CreateBucketInput struct{ Bucket string }

// CreateBucketResult says whether the bucket was created by this call (false: it
// already existed, as after a retry).
type CreateBucketResult struct{ Created bool }

// DeleteBucketInput asks to delete a bucket with every object and object version.
type DeleteBucketInput struct{ Bucket string }

// DeleteBucketResult counts what was removed, including by earlier attempts.
type DeleteBucketResult struct{ ObjectsRemoved int64 }
