package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
)

// Application error types returned by the activities, for workflows to tell
// failures apart.
const (
	// ErrTypeInvalidBucket marks a bucket name S3 refuses; retrying cannot help.
	ErrTypeInvalidBucket = "InvalidBucketName"
	// ErrTypeBucketTaken marks a bucket name already used by another owner of
	// the object store; retrying cannot help.
	ErrTypeBucketTaken = "BucketTaken"
)

// deleteBatchSize is how many object versions one DeleteBucket round removes
// before it heartbeats: the most one S3 multi-object delete request accepts.
const deleteBatchSize = 1000

// S3 error codes the activities react to.
const (
	codeBucketAlreadyOwnedByYou = "BucketAlreadyOwnedByYou"
	codeBucketAlreadyExists     = "BucketAlreadyExists"
	codeNoSuchBucket            = "NoSuchBucket"
	codeInvalidBucketName       = "InvalidBucketName"
)

// NewClient connects to an S3-compatible object store. Buckets are addressed
// by path (https://host/bucket) so that bucket names need no DNS entries.
func NewClient(endpoint, accessKey, secretKey string, useTLS bool, region string) (*minio.Client, error) {
	c, err := minio.New(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:       useTLS,
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("new S3 client for %q: %w", endpoint, err)
	}
	return c, nil
}

// Activities are the Temporal activities that drive the object store.
type Activities struct {
	// Client talks to the object store.
	Client *minio.Client
	// Region is the region new buckets are created in; empty means the
	// server's default.
	Region string
}

// CreateBucket creates a space's bucket. It is idempotent: a bucket this
// account already owns is reported with Created false and no error.
func (a *Activities) CreateBucket(ctx context.Context, in CreateBucketInput) (CreateBucketResult, error) {
	logger := log.With(activity.GetLogger(ctx), "Bucket", in.Bucket)
	if err := checkBucketName(in.Bucket); err != nil {
		return CreateBucketResult{}, err
	}

	err := a.Client.MakeBucket(ctx, in.Bucket, minio.MakeBucketOptions{Region: a.Region})
	switch errorCode(err) {
	case "":
		if err != nil {
			return CreateBucketResult{}, fmt.Errorf("create bucket %q: %w", in.Bucket, err)
		}
		logger.Info("Bucket created")
		return CreateBucketResult{Created: true}, nil
	case codeBucketAlreadyOwnedByYou:
		logger.Info("Bucket already exists")
		return CreateBucketResult{Created: false}, nil
	case codeBucketAlreadyExists:
		// Some servers answer this for a bucket of ours too; only a bucket we
		// can reach is ours, otherwise the name belongs to someone else.
		exists, existsErr := a.Client.BucketExists(ctx, in.Bucket)
		if existsErr == nil && exists {
			logger.Info("Bucket already exists")
			return CreateBucketResult{Created: false}, nil
		}
		return CreateBucketResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("create bucket %q: name used by another owner", in.Bucket), ErrTypeBucketTaken, err)
	case codeInvalidBucketName:
		return CreateBucketResult{}, invalidBucketError(in.Bucket, err)
	default:
		return CreateBucketResult{}, fmt.Errorf("create bucket %q: %w", in.Bucket, err)
	}
}

// DeleteBucket deletes a space's bucket with every object, object version and
// delete marker in it. A missing bucket counts as deleted, so retries are safe.
//
// It removes versions in batches and heartbeats the running count after each
// one; a retried attempt continues the count from the last heartbeat, so the
// result tells how many versions all attempts removed together.
func (a *Activities) DeleteBucket(ctx context.Context, in DeleteBucketInput) (DeleteBucketResult, error) {
	logger := log.With(activity.GetLogger(ctx), "Bucket", in.Bucket)
	if err := checkBucketName(in.Bucket); err != nil {
		return DeleteBucketResult{}, err
	}

	var removed int64
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &removed); err != nil {
			// The count is informative only: start again from zero.
			logger.Warn("Cannot read heartbeat details", "Error", err)
			removed = 0
		} else {
			logger.Info("Resuming bucket deletion", "ObjectsRemoved", removed)
		}
	}

	var lastFirst string
	for {
		n, first, err := a.removeBatch(ctx, in.Bucket)
		removed += n
		activity.RecordHeartbeat(ctx, removed)
		if errorCode(err) == codeNoSuchBucket {
			logger.Info("Bucket already deleted", "ObjectsRemoved", removed)
			return DeleteBucketResult{ObjectsRemoved: removed}, nil
		}
		if err != nil {
			return DeleteBucketResult{}, fmt.Errorf("empty bucket %q: %w", in.Bucket, err)
		}
		if n == 0 {
			break
		}
		// A server that acknowledges deletes without doing them would
		// otherwise keep this loop busy until the activity times out.
		if first == lastFirst {
			return DeleteBucketResult{}, fmt.Errorf("empty bucket %q: removed versions are listed again", in.Bucket)
		}
		lastFirst = first
		logger.Debug("Removed a batch of objects", "ObjectsRemoved", removed)
	}

	err := a.Client.RemoveBucket(ctx, in.Bucket)
	if err != nil && errorCode(err) != codeNoSuchBucket {
		return DeleteBucketResult{}, fmt.Errorf("delete bucket %q: %w", in.Bucket, err)
	}
	logger.Info("Bucket deleted", "ObjectsRemoved", removed)
	return DeleteBucketResult{ObjectsRemoved: removed}, nil
}

// removeBatch removes up to deleteBatchSize object versions and delete
// markers. It returns how many it removed (zero: the bucket is empty) and
// the key and version ID of the first one.
//
// Each batch starts a new listing rather than continuing one: a listing
// marker pointing at a version that was just removed is not something every
// S3 server handles the same way.
func (a *Activities) removeBatch(ctx context.Context, bucket string) (int64, string, error) {
	batch := make([]minio.ObjectInfo, 0, deleteBatchSize)
	opts := minio.ListObjectsOptions{WithVersions: true, Recursive: true, MaxKeys: deleteBatchSize}
	for obj := range a.Client.ListObjectsIter(ctx, bucket, opts) {
		if obj.Err != nil {
			return 0, "", fmt.Errorf("list object versions: %w", obj.Err)
		}
		batch = append(batch, obj)
		if len(batch) == deleteBatchSize {
			break
		}
	}
	if len(batch) == 0 {
		return 0, "", nil
	}
	first := batch[0].Key + "\x00" + batch[0].VersionID

	objects := make(chan minio.ObjectInfo, len(batch))
	for _, obj := range batch {
		objects <- obj
	}
	close(objects)

	var errs []error
	for rerr := range a.Client.RemoveObjects(ctx, bucket, objects, minio.RemoveObjectsOptions{}) {
		errs = append(errs, fmt.Errorf("remove %q version %q: %w", rerr.ObjectName, rerr.VersionID, rerr.Err))
	}
	removed := int64(len(batch) - len(errs))
	if len(errs) > 0 {
		return removed, first, fmt.Errorf("remove %d of %d object versions: %w", len(errs), len(batch), errors.Join(errs...))
	}
	return removed, first, nil
}

// checkBucketName refuses, as a non-retryable failure, a name S3 would refuse.
func checkBucketName(name string) error {
	if err := s3utils.CheckValidBucketNameStrict(name); err != nil {
		return invalidBucketError(name, err)
	}
	return nil
}

func invalidBucketError(name string, cause error) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("invalid bucket name %q: %v", name, cause), ErrTypeInvalidBucket, cause)
}

// errorCode returns the S3 error code carried by err, or "" if there is none.
func errorCode(err error) string {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Code
	}
	return ""
}
