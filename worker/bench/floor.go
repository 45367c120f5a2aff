package bench

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// floorTaskQueue is the task queue of the ceiling's workflow and activities, served by
// this process only: the worker under test never sees them.
const floorTaskQueue = "bench-floor"

// floorDuration is how long each chain runs.
const floorDuration = 3 * time.Second

// Floor is the engine's ceiling measured on the server of the run, and the history
// the run caused per space: a benchmark's ratio reads against these.
type Floor struct {
	Server         string  // the Temporal server measured: "cluster" for the real one, else the development server
	ActivitiesPerS float64 // a chain of no-op activities, one after the other
	LocalPerS      float64 // the same chain as local activities
	EventsPerSpace float64 // history events per space, from a sample of histories
}

// String is the floor's part of a benchmark's line.
func (f Floor) String() string {
	return fmt.Sprintf("server=%s floor_activities_per_s=%.0f floor_local_per_s=%.0f events_per_space=%.0f",
		cmp.Or(f.Server, "dev"), f.ActivitiesPerS, f.LocalPerS, f.EventsPerSpace)
}

// floorInput is one chain: Steps activities, local or not.
type floorInput struct {
	Steps int
	Local bool
}

// floorChain is how many steps one chain's workflow runs: short histories, so that
// local activities' markers stay far from the server's message size.
const floorChain = 100

// floorWorkflow runs In.Steps no-op activities one after the other.
func floorWorkflow(ctx workflow.Context, in floorInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for range in.Steps {
		var err error
		if in.Local {
			err = workflow.ExecuteLocalActivity(ctx, floorNoop).Get(ctx, nil)
		} else {
			err = workflow.ExecuteActivity(ctx, "BenchFloorNoop").Get(ctx, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// floorNoop does nothing: the chain measures the engine, not the work.
func floorNoop(context.Context) error { return nil }

// MeasureFloor runs, on c's server and a task queue of its own served from this
// process, chains of no-op activities then of no-op local activities, one workflow of
// floorChain steps after the other for a few seconds each, and returns their rates. EventsPerSpace is left for EventsPerSpace.
func MeasureFloor(ctx context.Context, c client.Client) (Floor, error) {
	w := worker.New(c, floorTaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(floorWorkflow, workflow.RegisterOptions{Name: "BenchFloor"})
	w.RegisterActivityWithOptions(floorNoop, activity.RegisterOptions{Name: "BenchFloorNoop"})
	if err := w.Start(); err != nil {
		return Floor{}, fmt.Errorf("floor worker: %w", err)
	}
	defer w.Stop()
	var f Floor
	for _, local := range []bool{false, true} {
		start, steps := time.Now(), 0
		for time.Since(start) < floorDuration {
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: fmt.Sprintf("bench-floor-%t-%d", local, time.Now().UnixNano()), TaskQueue: floorTaskQueue,
			}, "BenchFloor", floorInput{Steps: floorChain, Local: local})
			if err != nil {
				return f, fmt.Errorf("floor: %w", err)
			}
			if err := run.Get(ctx, nil); err != nil {
				return f, fmt.Errorf("floor: %w", err)
			}
			steps += floorChain
		}
		rate := float64(steps) / time.Since(start).Seconds()
		if local {
			f.LocalPerS = rate
		} else {
			f.ActivitiesPerS = rate
		}
	}
	return f, nil
}

// EventsPerSpace is the mean count of history events of the sample's workflows (one a
// space, their current runs), plus the events of the shared ones (a fleet's workflow)
// spread over spaces.
func EventsPerSpace(ctx context.Context, c client.Client, sample, shared []string, spaces int) (float64, error) {
	var perSpace, total float64
	for _, id := range sample {
		n, err := historyLength(ctx, c, id)
		if err != nil {
			return 0, err
		}
		perSpace += float64(n)
	}
	if len(sample) > 0 {
		perSpace /= float64(len(sample))
	}
	for _, id := range shared {
		n, err := historyLength(ctx, c, id)
		if err != nil {
			return 0, err
		}
		total += float64(n)
	}
	if spaces > 0 {
		perSpace += total / float64(spaces)
	}
	return perSpace, nil
}

func historyLength(ctx context.Context, c client.Client, id string) (int, error) {
	it := c.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			return n, fmt.Errorf("history of %s: %w", id, err)
		}
		n++
	}
	return n, nil
}

// sampleIDs is up to k workflow IDs of n spaces spread evenly, by the space's index.
func sampleIDs(n, k int, id func(i int) string) []string {
	if n <= 0 {
		return nil
	}
	k = min(k, n)
	ids := make([]string, 0, k)
	for j := range k {
		ids = append(ids, id(j*n/k))
	}
	return ids
}
