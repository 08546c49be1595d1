package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
)

// serveLoop runs one goroutine per client connection that reads a request,
// calls h and writes the response, with no background read and no
// per-request goroutine.
func serveLoop(ln net.Listener, h http.Handler) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go serveConn(c, h)
	}
}

func serveConn(c net.Conn, h http.Handler) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	remote := c.RemoteAddr().String()
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		req.RemoteAddr = remote
		w := &responseWriter{bw: bw, h: make(http.Header), head: req.Method == http.MethodHead}
		h.ServeHTTP(w, req)
		if !w.wrote {
			w.WriteHeader(http.StatusOK)
		}
		if w.chunked {
			bw.WriteString("0\r\n\r\n")
		}
		if bw.Flush() != nil || req.Close {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
	}
}

type responseWriter struct {
	bw      *bufio.Writer
	h       http.Header
	wrote   bool
	chunked bool
	head    bool
}

func (w *responseWriter) Header() http.Header { return w.h }

func (w *responseWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.bw.WriteString("HTTP/1.1 ")
	w.bw.WriteString(strconv.Itoa(code))
	w.bw.WriteByte(' ')
	w.bw.WriteString(http.StatusText(code))
	w.bw.WriteString("\r\n")
	if _, ok := w.h["Content-Length"]; !ok && code != http.StatusNoContent && code != http.StatusNotModified && !w.head {
		w.chunked = true
		w.h["Transfer-Encoding"] = []string{"chunked"}
	}
	w.h.Write(w.bw)
	w.bw.WriteString("\r\n")
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !w.chunked {
		return w.bw.Write(p)
	}
	w.bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
	w.bw.WriteString("\r\n")
	n, err := w.bw.Write(p)
	w.bw.WriteString("\r\n")
	return n, err
}

func (w *responseWriter) Flush() { w.bw.Flush() }
