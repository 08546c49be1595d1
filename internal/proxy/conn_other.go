//go:build !unix

package proxy

import "syscall"

// peekAlive cannot look at the socket on this platform; a closed pooled
// connection shows up as a failed request instead.
func peekAlive(syscall.Conn) bool { return true }

// peekClosed cannot look at the socket on this platform.
func peekClosed(syscall.Conn) bool { return false }

// peekPrefix cannot look at the socket on this platform: ok is false.
func peekPrefix(syscall.Conn, string) (n int, match, ok bool, err error) { return 0, false, false, nil }
