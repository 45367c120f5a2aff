package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/mail"
)

// mailLaneChange marks the workflow code that sends mails on MailTaskQueue, by
// priority; runs started before it keep sending them on TaskQueue, where the worker
// still runs the mail activities for them.
const mailLaneChange = "mail-lane"

// The priority keys of the mail lanes on MailTaskQueue (1 is Temporal's highest,
// 5 its lowest): a backlog of bulk mails never delays a mail someone waits for.
const (
	mailPriorityUrgent = 1
	mailPriorityBulk   = 5
)

// MailPriority returns the Temporal priority of a kind of mail on MailTaskQueue.
func MailPriority(kind mail.Kind) temporal.Priority {
	if mail.LaneOf(kind) == mail.LaneBulk {
		return temporal.Priority{PriorityKey: mailPriorityBulk}
	}
	return temporal.Priority{PriorityKey: mailPriorityUrgent}
}

// MailActivityOptions returns opts set to run a mail activity of kind in the mail
// lane: on MailTaskQueue, at the priority of its kind.
func MailActivityOptions(kind mail.Kind, opts workflow.ActivityOptions) workflow.ActivityOptions {
	opts.TaskQueue = MailTaskQueue
	opts.Priority = MailPriority(kind)
	return opts
}

// executeMail runs one mail activity (activity, with arg) of kind in the mail lane.
// Every mail a workflow sends goes through it.
func executeMail(ctx workflow.Context, kind mail.Kind, opts workflow.ActivityOptions, activity, arg any) workflow.Future {
	if workflow.GetVersion(ctx, mailLaneChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		opts = MailActivityOptions(kind, opts)
	}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), activity, arg)
}
