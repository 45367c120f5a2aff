// Package workflows holds Jardinier's durable workflows and every name that other
// processes use to talk to them: task queue, workflow IDs, updates, queries and search
// attributes.
package workflows

import (
	"strings"

	"go.temporal.io/sdk/temporal"
)

// TaskQueue is the task queue of the space workflows and their activities.
const TaskQueue = "jardinier-spaces"

// spaceWorkflowIDPrefix starts the ID of every space workflow.
const spaceWorkflowIDPrefix = "space/"

// SpaceWorkflowID is the ID of the workflow that carries a space through its life.
func SpaceWorkflowID(slug string) string { return spaceWorkflowIDPrefix + slug }

// SlugFromWorkflowID is the inverse of SpaceWorkflowID; "" for another workflow.
func SlugFromWorkflowID(id string) string {
	if slug, ok := strings.CutPrefix(id, spaceWorkflowIDPrefix); ok {
		return slug
	}
	return ""
}

// Moderator decisions on an application, sent as Temporal Updates with a validator.
const (
	UpdateAccept = "accept"
	UpdateHold   = "hold"
	UpdateReject = "reject"
)

// QueryStatus answers the current SpaceStatus of a space workflow.
const QueryStatus = "status"

// Search attributes that let ops filter spaces in the Temporal UI. They are registered
// on the server (temporal-dev.yaml for the dev server).
var (
	SearchAttrSlug             = temporal.NewSearchAttributeKeyKeyword("JardinierSlug")
	SearchAttrStatus           = temporal.NewSearchAttributeKeyKeyword("JardinierStatus")
	SearchAttrNextcloudVersion = temporal.NewSearchAttributeKeyKeyword("JardinierNextcloudVersion")
)

// Actors recorded in the audit trail besides moderators' names.
const (
	ActorApplicant = "applicant"
	ActorSystem    = "system"
)
