package devstack

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

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

// postgresProcAttr returns how to run PostgreSQL's programs, which refuse to run as
// root: as the machine's postgres user (Debian's packages create it) when this
// process is root, as this process otherwise. uid and gid are who must own the data
// directory, -1 for this process.
func postgresProcAttr() (attr *syscall.SysProcAttr, uid, gid int, err error) {
	attr = sysProcAttr()
	if os.Geteuid() != 0 {
		return attr, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("PostgreSQL will not run as root, and this machine has no postgres user to run it as: %w", err)
	}
	uid, err = strconv.Atoi(u.Uid)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err = strconv.Atoi(u.Gid)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("user postgres: gid %q: %w", u.Gid, err)
	}
	attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return attr, uid, gid, nil
}
