package devstack

import "syscall"

// sysProcAttr makes the kernel send SIGTERM to a server when the process that
// started it dies, so that a crashed or timed-out test run leaves no server
// behind holding its port.
//
// The kernel ties this to the thread that started the child; the Go runtime
// only ends threads that a goroutine locked and never released, which this
// package does not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
