package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"golang.org/x/sync/errgroup"

	"jardinier/activities/storage"
	"jardinier/deploy/devstack/devstacktest"
)

func TestCreateBucket(t *testing.T) {
	a := newActivities(t)

	t.Run("creates a missing bucket", func(t *testing.T) {
		res := createBucket(t, a, "space-new")
		if !res.Created {
			t.Error("Created = false, want true")
		}
		assertBucketExists(t, a, "space-new", true)
	})

	t.Run("reports an existing bucket as not created, without error", func(t *testing.T) {
		createBucket(t, a, "space-twice")
		if res := createBucket(t, a, "space-twice"); res.Created {
			t.Error("second call: Created = true, want false")
		}
		assertBucketExists(t, a, "space-twice", true)
	})

	t.Run("refuses an invalid name as a non-retryable failure", func(t *testing.T) {
		_, err := newEnv(a).ExecuteActivity(a.CreateBucket, storage.CreateBucketInput{Bucket: "Not_A_Bucket"})
		assertNonRetryable(t, err, storage.ErrTypeInvalidBucket)
	})
}

func TestDeleteBucket(t *testing.T) {
	a := newActivities(t)

	t.Run("removes every object, version and delete marker, then the bucket", func(t *testing.T) {
		const (
			objects     = 2500
			overwritten = 300 // each leaves one older version
			deleted     = 200 // each leaves a delete marker
		)
		bucket := "space-full"
		createBucket(t, a, bucket)
		if err := a.Client.EnableVersioning(context.Background(), bucket); err != nil {
			t.Fatal(err)
		}
		putObjects(t, a, bucket, 0, objects)
		putObjects(t, a, bucket, 0, overwritten)
		for i := range deleted {
			if err := a.Client.RemoveObject(context.Background(), bucket, objectName(objects-1-i), minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}

		env := newEnv(a)
		var mu sync.Mutex
		var heartbeats []int64
		env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
			var n int64
			if err := details.Get(&n); err != nil {
				t.Errorf("heartbeat details: %v", err)
			}
			mu.Lock()
			heartbeats = append(heartbeats, n)
			mu.Unlock()
		})

		res := deleteBucket(t, env, a, bucket)
		if want := int64(objects + overwritten + deleted); res.ObjectsRemoved != want {
			t.Errorf("ObjectsRemoved = %d, want %d", res.ObjectsRemoved, want)
		}
		assertBucketExists(t, a, bucket, false)

		mu.Lock()
		defer mu.Unlock()
		if len(heartbeats) == 0 {
			t.Error("no heartbeat recorded")
		}
		for _, n := range heartbeats {
			if n <= 0 || n > res.ObjectsRemoved {
				t.Errorf("heartbeat with %d removed, want between 1 and %d", n, res.ObjectsRemoved)
			}
		}
	})

	t.Run("continues the count of an earlier attempt from its heartbeat", func(t *testing.T) {
		bucket := "space-retried"
		createBucket(t, a, bucket)
		putObjects(t, a, bucket, 0, 10)

		env := newEnv(a)
		env.SetHeartbeatDetails(int64(1234))
		res := deleteBucket(t, env, a, bucket)
		if res.ObjectsRemoved != 1244 {
			t.Errorf("ObjectsRemoved = %d, want 1234 + 10", res.ObjectsRemoved)
		}
		assertBucketExists(t, a, bucket, false)
	})

	t.Run("succeeds when the bucket does not exist", func(t *testing.T) {
		res := deleteBucket(t, newEnv(a), a, "space-never-created")
		if res.ObjectsRemoved != 0 {
			t.Errorf("ObjectsRemoved = %d, want 0", res.ObjectsRemoved)
		}
	})

	t.Run("refuses an invalid name as a non-retryable failure", func(t *testing.T) {
		_, err := newEnv(a).ExecuteActivity(a.DeleteBucket, storage.DeleteBucketInput{Bucket: "ab"})
		assertNonRetryable(t, err, storage.ErrTypeInvalidBucket)
	})
}

// newActivities starts a MinIO server for the test and returns activities
// using it.
func newActivities(t *testing.T) *storage.Activities {
	t.Helper()
	m := devstacktest.StartMinIO(t)
	c, err := storage.NewClient(m.Endpoint, m.AccessKey, m.SecretKey, false, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return &storage.Activities{Client: c, Region: "us-east-1"}
}

func newEnv(a *storage.Activities) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return env
}

func createBucket(t *testing.T, a *storage.Activities, bucket string) storage.CreateBucketResult {
	t.Helper()
	val, err := newEnv(a).ExecuteActivity(a.CreateBucket, storage.CreateBucketInput{Bucket: bucket})
	if err != nil {
		t.Fatalf("CreateBucket(%q): %v", bucket, err)
	}
	var res storage.CreateBucketResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func deleteBucket(t *testing.T, env *testsuite.TestActivityEnvironment, a *storage.Activities, bucket string) storage.DeleteBucketResult {
	t.Helper()
	val, err := env.ExecuteActivity(a.DeleteBucket, storage.DeleteBucketInput{Bucket: bucket})
	if err != nil {
		t.Fatalf("DeleteBucket(%q): %v", bucket, err)
	}
	var res storage.DeleteBucketResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func objectName(i int) string { return fmt.Sprintf("urn:oid:%d", i) }

// putObjects writes objects numbered from first to first+n-1, a few at a time.
func putObjects(t *testing.T, a *storage.Activities, bucket string, first, n int) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(16)
	for i := first; i < first+n; i++ {
		g.Go(func() error {
			body := fmt.Appendf(nil, "content of object %d", i)
			_, err := a.Client.PutObject(context.Background(), bucket, objectName(i),
				bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func assertBucketExists(t *testing.T, a *storage.Activities, bucket string, want bool) {
	t.Helper()
	got, err := a.Client.BucketExists(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("bucket %q exists = %v, want %v", bucket, got, want)
	}
}

func assertNonRetryable(t *testing.T, err error, errType string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error = %v, want an application error", err)
	}
	if appErr.Type() != errType || !appErr.NonRetryable() {
		t.Errorf("error type %q, non-retryable %v; want %q, true", appErr.Type(), appErr.NonRetryable(), errType)
	}
}
