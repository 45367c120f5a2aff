package storage_test

import (
	"bytes"
	"context"
	"io"
	"maps"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"jardinier/activities/storage"
	"jardinier/activities/storage/s3test"
)

func TestFileHistory(t *testing.T) {
	for _, srv := range s3test.Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			a := &storage.Activities{Client: srv.Client, Region: "us-east-1"}

			t.Run("the server offers versioning and lifecycle rules", func(t *testing.T) {
				f, err := storage.CheckFeatures(context.Background(), srv.Client, "us-east-1")
				if err != nil {
					t.Fatal(err)
				}
				if f.Missing() {
					t.Errorf("features missing on %s: %v", srv.Name, f.Problems)
				}
			})

			t.Run("turns versioning on and expires old versions after 30 days, once", func(t *testing.T) {
				bucket := "space-history"
				createBucket(t, a, bucket)
				first := enableHistory(t, a, bucket)
				if !first.VersioningEnabled || !first.LifecycleSet {
					t.Errorf("first call = %+v, want both set", first)
				}
				again := enableHistory(t, a, bucket)
				if again.VersioningEnabled || again.LifecycleSet {
					t.Errorf("second call = %+v, want nothing changed", again)
				}
				v, err := srv.Client.GetBucketVersioning(context.Background(), bucket)
				if err != nil || !v.Enabled() {
					t.Errorf("versioning = %+v, %v; want enabled", v, err)
				}
				lc, err := srv.Client.GetBucketLifecycle(context.Background(), bucket)
				if err != nil {
					t.Fatal(err)
				}
				if len(lc.Rules) != 1 || lc.Rules[0].NoncurrentVersionExpiration.NoncurrentDays != storage.NoncurrentVersionDays ||
					lc.Rules[0].Status != "Enabled" {
					t.Errorf("lifecycle rules = %+v, want one expiring non-current versions after %d days", lc.Rules, storage.NoncurrentVersionDays)
				}
			})

			t.Run("a restore to a time gives back exactly that time's objects and contents, and can be undone", func(t *testing.T) {
				ctx := context.Background()
				bucket := "space-restore"
				createBucket(t, a, bucket)
				enableHistory(t, a, bucket)
				put(t, srv.Client, bucket, "kept", "kept v1")
				put(t, srv.Client, bucket, "overwritten", "overwritten v1")
				put(t, srv.Client, bucket, "deleted", "deleted v1")
				before := objects(t, srv.Client, bucket)
				at := pause()

				put(t, srv.Client, bucket, "overwritten", "overwritten v2")
				if err := srv.Client.RemoveObject(ctx, bucket, "deleted", minio.RemoveObjectOptions{}); err != nil {
					t.Fatal(err)
				}
				put(t, srv.Client, bucket, "created", "created after")
				after := objects(t, srv.Client, bucket)
				afterAt := pause()

				dry := restore(t, a, storage.RestoreObjectsInput{Bucket: bucket, At: at, DryRun: true})
				if dry.Restored != 2 || dry.Removed != 1 || dry.Unchanged != 1 {
					t.Errorf("dry run = %+v, want 2 restored (overwritten, deleted), 1 removed (created), 1 unchanged", dry)
				}
				if got := objects(t, srv.Client, bucket); !maps.Equal(got, after) {
					t.Errorf("a dry run changed the bucket: %v, want %v", got, after)
				}

				res := restore(t, a, storage.RestoreObjectsInput{Bucket: bucket, At: at})
				if res.Restored != 2 || res.Removed != 1 {
					t.Errorf("restore = %+v, want 2 restored, 1 removed", res)
				}
				if got := objects(t, srv.Client, bucket); !maps.Equal(got, before) {
					t.Errorf("after the restore: %v, want %v", got, before)
				}
				again := restore(t, a, storage.RestoreObjectsInput{Bucket: bucket, At: at, DryRun: true})
				if again.Restored+again.Removed != 0 {
					t.Errorf("a second restore would change %+v, want nothing", again)
				}

				restore(t, a, storage.RestoreObjectsInput{Bucket: bucket, At: afterAt})
				if got := objects(t, srv.Client, bucket); !maps.Equal(got, after) {
					t.Errorf("after undoing the restore: %v, want %v", got, after)
				}
			})
		})
	}
}

// pause returns a time between what was written before and what is written after,
// a second clear of both: servers keep modification times to the second or so.
func pause() time.Time {
	time.Sleep(1100 * time.Millisecond)
	at := time.Now()
	time.Sleep(1100 * time.Millisecond)
	return at
}

func enableHistory(t *testing.T, a *storage.Activities, bucket string) storage.EnableFileHistoryResult {
	t.Helper()
	val, err := newEnv(a).ExecuteActivity(a.EnableFileHistory, storage.EnableFileHistoryInput{Bucket: bucket})
	if err != nil {
		t.Fatalf("EnableFileHistory(%q): %v", bucket, err)
	}
	var res storage.EnableFileHistoryResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func restore(t *testing.T, a *storage.Activities, in storage.RestoreObjectsInput) storage.RestoreObjectsResult {
	t.Helper()
	val, err := newEnv(a).ExecuteActivity(a.RestoreObjects, in)
	if err != nil {
		t.Fatalf("RestoreObjects(%+v): %v", in, err)
	}
	var res storage.RestoreObjectsResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func put(t *testing.T, c *minio.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), bucket, key, bytes.NewReader([]byte(body)), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// objects reads every current object of bucket: key to content.
func objects(t *testing.T, c *minio.Client, bucket string) map[string]string {
	t.Helper()
	ctx := context.Background()
	got := map[string]string{}
	for obj := range c.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		r, err := c.GetObject(ctx, bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		got[obj.Key] = string(b)
	}
	return got
}
