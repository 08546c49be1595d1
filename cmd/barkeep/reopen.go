package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// logFile is the access log file, reopened by name on SIGUSR1 so logrotate
// can rename it away (create, not copytruncate) and barkeep continues in a
// new file at the configured path. Safe for concurrent use.
type logFile struct {
	path string
	mu   sync.Mutex
	f    *os.File // nil once closed
}

func openLogFile(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open access log: %w", err)
	}
	return &logFile{path: path, f: f}, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	return l.f.Write(p)
}

// Reopen opens the path again and switches to it; on error the current
// file stays in use.
func (l *logFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("reopen access log: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		f.Close()
		return fmt.Errorf("reopen access log: %w", os.ErrClosed)
	}
	old := l.f
	l.f = f
	return old.Close()
}

// Close closes the file; later writes fail with os.ErrClosed.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return os.ErrClosed
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// reopenLogsOnSIGUSR1 reopens s's access log file each time the process
// gets SIGUSR1, until ctx ends. Lines buffered before the signal are
// flushed to the old file first.
func reopenLogsOnSIGUSR1(ctx context.Context, s *server) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-usr1:
			s.reopenLogs()
		}
	}
}

func (s *server) reopenLogs() {
	if s.accessFile == nil {
		s.log.Info("SIGUSR1: no access log file to reopen")
		return
	}
	if err := s.access.Flush(); err != nil {
		s.log.Error("access log flush before reopen", "err", err)
	}
	if err := s.accessFile.Reopen(); err != nil {
		s.log.Error("access log not reopened; still writing to the old file", "err", err)
		return
	}
	s.log.Info("access log reopened", "path", s.accessFile.path)
}
