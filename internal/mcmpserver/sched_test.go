package mcmpserver_test

import "runtime"

// runtimeGosched yields while a test polls state that another goroutine
// changes across a real socket.
func runtimeGosched() { runtime.Gosched() }
