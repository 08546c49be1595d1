package proxy

// SetAccessLogMaxPending lowers how many lines l queues before it drops
// them, so a test can fill the queue.
func SetAccessLogMaxPending(l *AccessLog, n int64) { l.maxPending = n }
