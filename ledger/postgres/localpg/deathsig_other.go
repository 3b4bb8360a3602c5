//go:build !linux

package localpg

import "syscall"

// setParentDeathSignal does nothing: only Linux can signal a child when its
// parent dies, so elsewhere the server outlives a process that dies without
// calling Stop.
func setParentDeathSignal(*syscall.SysProcAttr) {}
