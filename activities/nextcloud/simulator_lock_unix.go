//go:build unix

package nextcloud

import (
	"os"
	"syscall"
)

// lockShared waits for the exclusive lock of f, held against other processes.
func lockShared(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

// unlockShared releases the lock lockShared took.
func unlockShared(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
