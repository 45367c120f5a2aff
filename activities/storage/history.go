package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/lifecycle"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
)

// NoncurrentVersionDays is how long an overwritten or deleted file's old version is
// kept: the 30 days a space can be restored over.
const NoncurrentVersionDays = 30

// fileHistoryRuleID names the lifecycle rule EnableFileHistory sets, so that a rule of
// the operator's own beside it is kept.
const fileHistoryRuleID = "jardinier-file-history"

// restoreBatchHeartbeat is how many objects RestoreObjects handles between heartbeats.
const restoreBatchHeartbeat = 100

// EnableFileHistory turns versioning on in a space's bucket and sets the lifecycle
// rule that expires non-current versions after NoncurrentVersionDays. It is
// idempotent: a bucket already set up is left as it is, and reported so.
func (a *Activities) EnableFileHistory(ctx context.Context, in EnableFileHistoryInput) (EnableFileHistoryResult, error) {
	logger := log.With(activity.GetLogger(ctx), "Bucket", in.Bucket)
	if err := checkBucketName(in.Bucket); err != nil {
		return EnableFileHistoryResult{}, err
	}
	var res EnableFileHistoryResult
	v, err := a.Client.GetBucketVersioning(ctx, in.Bucket)
	if err != nil {
		return res, fmt.Errorf("versioning of bucket %q: %w", in.Bucket, err)
	}
	if !v.Enabled() {
		if err := a.Client.EnableVersioning(ctx, in.Bucket); err != nil {
			return res, fmt.Errorf("enable versioning of bucket %q: %w", in.Bucket, err)
		}
		res.VersioningEnabled = true
	}
	cfg, err := a.Client.GetBucketLifecycle(ctx, in.Bucket)
	if err != nil && errorCode(err) != "NoSuchLifecycleConfiguration" {
		return res, fmt.Errorf("lifecycle of bucket %q: %w", in.Bucket, err)
	}
	if cfg == nil {
		cfg = lifecycle.NewConfiguration()
	}
	want := fileHistoryRule()
	rules := []lifecycle.Rule{want}
	upToDate := false
	for _, r := range cfg.Rules {
		if r.ID != fileHistoryRuleID {
			rules = append(rules, r)
			continue
		}
		upToDate = r.Status == want.Status && r.NoncurrentVersionExpiration.NoncurrentDays == want.NoncurrentVersionExpiration.NoncurrentDays
	}
	if !upToDate {
		cfg.Rules = rules
		if err := a.Client.SetBucketLifecycle(ctx, in.Bucket, cfg); err != nil {
			return res, fmt.Errorf("set lifecycle of bucket %q: %w", in.Bucket, err)
		}
		res.LifecycleSet = true
	}
	logger.Info("File history on", "VersioningEnabled", res.VersioningEnabled, "LifecycleSet", res.LifecycleSet)
	return res, nil
}

func containsRule(rules []lifecycle.Rule) bool {
	for _, r := range rules {
		if r.ID == fileHistoryRuleID {
			return true
		}
	}
	return false
}

func fileHistoryRule() lifecycle.Rule {
	return lifecycle.Rule{
		ID:     fileHistoryRuleID,
		Status: "Enabled",
		NoncurrentVersionExpiration: lifecycle.NoncurrentVersionExpiration{
			NoncurrentDays: lifecycle.ExpirationDays(NoncurrentVersionDays),
		},
	}
}

// Features says which S3 features the object store offers that the file history
// and restores rely on.
type Features struct {
	Versioning bool
	Lifecycle  bool
	// Problems says, for each missing feature, what the server answered.
	Problems []string
}

// Missing reports whether a feature the service relies on is missing.
func (f Features) Missing() bool { return !f.Versioning || !f.Lifecycle }

// CheckFeatures tries, on a bucket of its own made for the purpose and removed
// afterwards, what EnableFileHistory and RestoreObjects need: versioning that keeps an
// overwritten version, and a lifecycle rule on non-current versions. The worker runs
// it at start-up, so that a missing feature is known before a restore needs it.
func CheckFeatures(ctx context.Context, c *minio.Client, region string) (Features, error) {
	var f Features
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	bucket := "jardinier-probe-" + hex.EncodeToString(suffix)
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region}); err != nil {
		return f, fmt.Errorf("create probe bucket %q: %w", bucket, err)
	}
	defer func() {
		a := &Activities{Client: c}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for {
			n, _, err := a.removeBatch(cctx, bucket)
			if err != nil || n == 0 {
				break
			}
		}
		_ = c.RemoveBucket(cctx, bucket)
	}()

	if err := c.EnableVersioning(ctx, bucket); err != nil {
		f.Problems = append(f.Problems, "versioning: "+err.Error())
	} else if err := probeVersions(ctx, c, bucket); err != nil {
		f.Problems = append(f.Problems, "versioning: "+err.Error())
	} else {
		f.Versioning = true
	}
	cfg := lifecycle.NewConfiguration()
	cfg.Rules = []lifecycle.Rule{fileHistoryRule()}
	if err := c.SetBucketLifecycle(ctx, bucket, cfg); err != nil {
		f.Problems = append(f.Problems, "lifecycle: "+err.Error())
	} else if got, err := c.GetBucketLifecycle(ctx, bucket); err != nil {
		f.Problems = append(f.Problems, "lifecycle: read back: "+err.Error())
	} else if !containsRule(got.Rules) {
		f.Problems = append(f.Problems, "lifecycle: the rule set is not read back")
	} else {
		f.Lifecycle = true
	}
	return f, nil
}

// probeVersions writes an object twice and checks both versions are listed, the old
// one readable by its version ID.
func probeVersions(ctx context.Context, c *minio.Client, bucket string) error {
	for _, body := range []string{"one", "two"} {
		if _, err := c.PutObject(ctx, bucket, "probe", bytes.NewReader([]byte(body)), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			return err
		}
	}
	var versions []minio.ObjectInfo
	for obj := range c.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		versions = append(versions, obj)
	}
	if len(versions) != 2 {
		return fmt.Errorf("%d versions listed after two writes, want 2", len(versions))
	}
	old := versions[0]
	if old.IsLatest {
		old = versions[1]
	}
	r, err := c.GetObject(ctx, bucket, "probe", minio.GetObjectOptions{VersionID: old.VersionID})
	if err != nil {
		return err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read old version: %w", err)
	}
	if string(b) != "one" {
		return fmt.Errorf("old version reads %q, want %q", b, "one")
	}
	return nil
}

// RestoreObjects puts every object of a bucket back as it was at in.At: an object
// whose version then differs from the current one gets that version copied over it
// (a new version: the current one stays in the history), an object created after
// in.At, or deleted by then, gets a delete marker. Nothing is removed for good, so a
// restore can itself be undone by a restore to a time before it. With DryRun it only
// lists what it would do.
//
// It heartbeats the key it reached; a retried attempt starts again from the
// beginning, which is safe: objects already put back are found as they should be.
func (a *Activities) RestoreObjects(ctx context.Context, in RestoreObjectsInput) (RestoreObjectsResult, error) {
	logger := log.With(activity.GetLogger(ctx), "Bucket", in.Bucket)
	if err := checkBucketName(in.Bucket); err != nil {
		return RestoreObjectsResult{}, err
	}
	plan, err := a.restorePlan(ctx, in.Bucket, in.At)
	if err != nil {
		return RestoreObjectsResult{}, err
	}
	res := RestoreObjectsResult{Unchanged: plan.unchanged}
	for i, ch := range plan.changes {
		if i%restoreBatchHeartbeat == 0 {
			activity.RecordHeartbeat(ctx, ch.Key)
		}
		switch ch.Action {
		case ObjectRestored:
			res.Restored++
		case ObjectRemoved:
			res.Removed++
		}
		if len(res.Changes) < in.MaxListed || in.MaxListed == 0 && len(res.Changes) < defaultMaxListed {
			res.Changes = append(res.Changes, ch)
		}
		if in.DryRun {
			continue
		}
		if err := a.applyChange(ctx, in.Bucket, ch); err != nil {
			return res, err
		}
	}
	logger.Info("Objects restored", "At", in.At, "DryRun", in.DryRun, "Restored", res.Restored,
		"Removed", res.Removed, "Unchanged", res.Unchanged)
	return res, nil
}

// defaultMaxListed bounds the changes a restore lists in its result, to keep its
// history small; the counts stay exact.
const defaultMaxListed = 100

type restorePlan struct {
	changes   []ObjectChange
	unchanged int
}

// restorePlan lists the bucket's versions and says, object by object, what must
// change for it to read as at t.
func (a *Activities) restorePlan(ctx context.Context, bucket string, t time.Time) (restorePlan, error) {
	byKey := map[string][]minio.ObjectInfo{}
	var keys []string
	for obj := range a.Client.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
		if obj.Err != nil {
			return restorePlan{}, fmt.Errorf("list versions of bucket %q: %w", bucket, obj.Err)
		}
		if _, ok := byKey[obj.Key]; !ok {
			keys = append(keys, obj.Key)
		}
		byKey[obj.Key] = append(byKey[obj.Key], obj)
	}
	sort.Strings(keys)
	var plan restorePlan
	for _, key := range keys {
		versions := byKey[key]
		// Newest first, whatever order the server listed them in.
		sort.SliceStable(versions, func(i, j int) bool { return versions[i].LastModified.After(versions[j].LastModified) })
		current := versions[0]
		var then *minio.ObjectInfo
		for i := range versions {
			if !versions[i].LastModified.After(t) {
				then = &versions[i]
				break
			}
		}
		existedThen := then != nil && !then.IsDeleteMarker
		existsNow := !current.IsDeleteMarker
		switch {
		case !existedThen && !existsNow:
			plan.unchanged++
		case !existedThen:
			plan.changes = append(plan.changes, ObjectChange{Key: key, Action: ObjectRemoved})
		case existsNow && then.VersionID == current.VersionID:
			plan.unchanged++
		case existsNow && then.ETag == current.ETag && then.Size == current.Size:
			// Written again with the same content: nothing to put back.
			plan.unchanged++
		default:
			plan.changes = append(plan.changes, ObjectChange{Key: key, Action: ObjectRestored,
				VersionID: then.VersionID, Size: then.Size})
		}
	}
	return plan, nil
}

func (a *Activities) applyChange(ctx context.Context, bucket string, ch ObjectChange) error {
	switch ch.Action {
	case ObjectRemoved:
		// Without a version ID: a delete marker, the version stays in the history.
		if err := a.Client.RemoveObject(ctx, bucket, ch.Key, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("remove %q: %w", ch.Key, err)
		}
	case ObjectRestored:
		_, err := a.Client.CopyObject(ctx, minio.CopyDestOptions{Bucket: bucket, Object: ch.Key},
			minio.CopySrcOptions{Bucket: bucket, Object: ch.Key, VersionID: ch.VersionID})
		if err != nil {
			return fmt.Errorf("put back %q version %q: %w", ch.Key, ch.VersionID, err)
		}
	default:
		return errors.New("unknown change " + ch.Action)
	}
	return nil
}
