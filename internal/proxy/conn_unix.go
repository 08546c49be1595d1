//go:build unix

package proxy

import "syscall"

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
