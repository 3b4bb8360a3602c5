package localpg

import "syscall"

// setParentDeathSignal asks the kernel to send the server SIGINT (fast
// shutdown) when the thread that started it exits, which Start arranges to be
// when this process dies.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGINT }
