//go:build !unix

package nextcloud

import "os"

// lockShared does nothing where flock(2) does not exist: there, only one process may
// use a Persist directory at a time.
func lockShared(*os.File) error { return nil }

// unlockShared releases the lock lockShared took.
func unlockShared(*os.File) error { return nil }
