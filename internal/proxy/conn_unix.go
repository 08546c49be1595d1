//go:build unix

package proxy

import (
	"io"
	"syscall"
)

// peekAlive reports whether the idle connection c is still open and quiet:
// a non-blocking peek finds neither the end of the stream nor unexpected
// data (what httpd's ap_proxy_is_socket_connected checks before reusing a
// connection).
func peekAlive(c syscall.Conn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && alive
}

// peekClosed reports whether the peer of c has closed or reset the
// connection; pending data (a pipelined request) means it has not.
func peekClosed(c syscall.Conn) bool {
	if c == nil {
		return false
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	rc.Read(func(fd uintptr) bool { //nolint:errcheck // a failed peek says nothing
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = rerr == nil && n == 0 || rerr == syscall.ECONNRESET
		return true
	})
	return closed
}

// peekPrefix waits for the first bytes of c and looks at them without
// reading them (MSG_PEEK), until they differ from prefix (at most 64
// bytes) or hold all of it; c's read deadline bounds the wait. n is how
// many bytes it saw (0 with err: nothing came), match whether they are
// the whole prefix. ok is false when c's socket cannot be peeked at; the
// caller then reads instead.
func peekPrefix(c syscall.Conn, prefix string) (n int, match, ok bool, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false, false, nil
	}
	var buf [64]byte
	want := buf[:min(len(prefix), len(buf))]
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, perr = syscall.Recvfrom(int(fd), want, syscall.MSG_PEEK)
		switch {
		case perr == syscall.EAGAIN || perr == syscall.EINTR:
			n = 0
			return false // wait until something (more) arrives
		case perr != nil || n == 0:
			return true // reset, or closed before a byte
		}
		seen := want[:n]
		if string(seen) != prefix[:n] || n == len(want) {
			return true // decided
		}
		return false // part of the prefix so far: wait for more
	})
	switch {
	case n > 0:
		return n, n == len(want) && string(want) == prefix, true, nil
	case err != nil:
		return 0, false, true, err
	case perr != nil:
		return 0, false, true, perr
	}
	return 0, false, true, io.EOF
}
