//go:build !linux

package devstack

import "syscall"

// sysProcAttr returns nil: only Linux can stop a child when its parent dies,
// elsewhere callers must call Process.Stop.
func sysProcAttr() *syscall.SysProcAttr { return nil }
