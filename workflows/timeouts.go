package workflows

import "time"

// Every activity has a start-to-close timeout that fits what it does, so that a hung
// call is retried in about the time it should take. Those that may take minutes
// heartbeat while they work: a worker lost in the middle of one costs a heartbeat
// timeout before another worker runs it again, not the whole start-to-close timeout,
// which matters most while a space is in maintenance or half out of service.
const (
	// heartbeatTimeout: the Nextcloud activities heartbeat every third of it while the
	// driver works (nextcloud.Activities), whatever the driver is doing.
	heartbeatTimeout = 15 * time.Second
	// bucketHeartbeatTimeout: bucket deletion heartbeats after each batch of removals,
	// which takes a few seconds on a slow S3 server.
	bucketHeartbeatTimeout = 30 * time.Second

	// nextcloudShortTimeout bounds a Nextcloud call of one occ command or one query
	// (maintenance, cron, code switch, health, an account, the limits).
	nextcloudShortTimeout = 2 * time.Minute
	// nextcloudLongTimeout bounds the calls that take minutes on a space of 100,000+
	// files or a loaded node: install, app downloads, database dump and restore, occ
	// upgrade. They heartbeat, so a lost worker costs heartbeatTimeout only.
	nextcloudLongTimeout = 30 * time.Minute
)
