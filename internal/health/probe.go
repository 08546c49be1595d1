package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/barkeep-lb/barkeep/ajp"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// maxCheckBody is how much of a GET check's answer is read for the body
// expectation.
const maxCheckBody = 64 << 10

// prober is the default Prober: TCP connects, AJP CPINGs, and HTTP checks
// over its own connections (so checks never wait behind client traffic).
type prober struct {
	http *http.Client // http and https members
	h2c  *http.Client // h2c members
	ajp  *ajp.Transport
}

// NewProber returns the default Prober: TCP connects; CPING sends an AJP
// CPING and wants the CPONG; OPTIONS, HEAD and GET request the check's URI
// from the member and pass when the status is in the check's Status set
// and, for GET, the body holds Body and matches BodyRE.
func NewProber() Prober {
	tr := &http.Transport{
		MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute, DisableCompression: true,
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}
	h2c := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute, Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &prober{
		http: &http.Client{Transport: tr, CheckRedirect: noRedirect},
		h2c:  &http.Client{Transport: h2c, CheckRedirect: noRedirect},
		ajp:  &ajp.Transport{},
	}
}

func (p *prober) Probe(ctx context.Context, m *registry.Member) error {
	hc := m.Check
	switch hc.Method {
	case registry.CheckTCP:
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.URL.Host)
		if err != nil {
			return err
		}
		return c.Close()
	case registry.CheckCPING:
		dl, _ := ctx.Deadline()
		return p.ajp.Ping(ctx, m.URL.Host, time.Until(dl))
	case registry.CheckOPTIONS, registry.CheckHEAD, registry.CheckGET:
		return p.httpCheck(ctx, m)
	}
	return fmt.Errorf("health: no prober for hcmethod %s", hc.Method)
}

func (p *prober) httpCheck(ctx context.Context, m *registry.Member) error {
	hc := m.Check
	scheme, client := m.URL.Scheme, p.http
	switch scheme {
	case "h2c":
		scheme, client = "http", p.h2c
	case "ajp":
		return errors.New("health: HTTP checks need an http, https or h2c member; use CPING for ajp")
	}
	req, err := http.NewRequestWithContext(ctx, hc.Method.String(), scheme+"://"+m.URL.Host+"/", nil)
	if err != nil {
		return err
	}
	if hc.URI == "*" {
		req.URL.Path, req.URL.Opaque = "", "*"
	} else if hc.URI != "" {
		path, query, _ := strings.Cut(hc.URI, "?")
		req.URL.Path, req.URL.RawQuery = path, query
	}
	req.Header.Set("User-Agent", "barkeep-hcheck")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if !hc.Status.Has(res.StatusCode) {
		io.Copy(io.Discard, io.LimitReader(res.Body, maxCheckBody))
		return fmt.Errorf("health: status %d is not expected", res.StatusCode)
	}
	if hc.Method != registry.CheckGET || hc.Body == "" && hc.BodyRE == nil {
		io.Copy(io.Discard, io.LimitReader(res.Body, maxCheckBody))
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxCheckBody))
	if err != nil {
		return err
	}
	if hc.Body != "" && !strings.Contains(string(body), hc.Body) {
		return fmt.Errorf("health: body lacks %q", hc.Body)
	}
	if hc.BodyRE != nil && !hc.BodyRE.Match(body) {
		return fmt.Errorf("health: body does not match %s", hc.BodyRE)
	}
	return nil
}
