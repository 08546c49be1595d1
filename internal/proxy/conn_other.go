//go:build !unix

package proxy

import "syscall"

// peekAlive cannot look at the socket on this platform; a closed pooled
// connection shows up as a failed request instead.
func peekAlive(syscall.Conn) bool { return true }

// peekClosed cannot look at the socket on this platform.
func peekClosed(syscall.Conn) bool { return false }
