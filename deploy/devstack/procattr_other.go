//go:build !linux

package devstack

import "syscall"

// sysProcAttr returns nil: only Linux can stop a child when its parent dies,
// elsewhere callers must call Process.Stop.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// postgresProcAttr runs PostgreSQL's programs as this process; they say so
// themselves if that is root.
func postgresProcAttr() (attr *syscall.SysProcAttr, uid, gid int, err error) {
	return sysProcAttr(), -1, -1, nil
}
