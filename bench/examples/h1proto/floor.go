package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"sync/atomic"
)

// serveFloor copies request and response heads line by line between a client
// connection and backend connections owned by that client connection (no
// pool, no lock), adding X-Forwarded-For. Content-Length bodies only.
func serveFloor(ln net.Listener, backends []string) error {
	var rr atomic.Uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go floorConn(c, backends, &rr)
	}
}

func floorConn(c net.Conn, backends []string, rr *atomic.Uint64) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	conns := make([]*bconn, len(backends))
	defer func() {
		for _, b := range conns {
			if b != nil {
				b.c.Close()
			}
		}
	}()
	ip, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	for {
		i := int((rr.Add(1) - 1) % uint64(len(backends)))
		b := conns[i]
		if b == nil {
			bc, err := net.Dial("tcp", backends[i])
			if err != nil {
				return
			}
			b = &bconn{c: bc, br: bufio.NewReaderSize(bc, 4096), bw: bufio.NewWriterSize(bc, 4096)}
			conns[i] = b
		}
		var reqLen int64
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				b.bw.WriteString("X-Forwarded-For: ")
				b.bw.WriteString(ip)
				b.bw.WriteString("\r\n\r\n")
				break
			}
			if n, ok := contentLength(line); ok {
				reqLen = n
			}
			b.bw.Write(line)
		}
		if reqLen > 0 {
			io.CopyN(b.bw, br, reqLen)
		}
		if b.bw.Flush() != nil {
			return
		}
		respLen := int64(-1)
		for {
			line, err := b.br.ReadSlice('\n')
			if err != nil {
				return
			}
			bw.Write(line)
			if len(line) <= 2 {
				break
			}
			if n, ok := contentLength(line); ok {
				respLen = n
			}
		}
		if respLen < 0 {
			return
		}
		if _, err := io.CopyN(bw, b.br, respLen); err != nil || bw.Flush() != nil {
			return
		}
	}
}

var clPrefix = []byte("content-length:")

func contentLength(line []byte) (int64, bool) {
	if len(line) <= len(clPrefix) || !bytes.EqualFold(line[:len(clPrefix)], clPrefix) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(line[len(clPrefix):])), 10, 64)
	return n, err == nil
}
