package admin

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// managerXML writes the balancers in the layout of httpd's
// "balancer-manager?xml" (namespace http://httpd.apache.org), plus
// barkeep's <httpd:errors> per worker. Times are in httpd's units: seconds,
// connectiontimeout in milliseconds.
func (h *Handler) managerXML(w http.ResponseWriter) {
	var b bytes.Buffer
	b.WriteString("<?xml version='1.0' encoding='UTF-8' ?>\n")
	b.WriteString("<httpd:manager xmlns:httpd='http://httpd.apache.org'>\n  <httpd:balancers>\n")
	for _, v := range h.views() {
		b.WriteString("    <httpd:balancer>\n")
		el(&b, 6, "name", "balancer://"+v.Name)
		if len(v.StickySession) > 0 {
			el(&b, 6, "stickysession", strings.Join(v.StickySession, "|"))
			el(&b, 6, "nofailover", onOff(v.NoFailover))
		}
		el(&b, 6, "timeout", strconv.FormatFloat(v.TimeoutSeconds, 'f', -1, 64))
		el(&b, 6, "maxattempts", strconv.Itoa(v.MaxAttempts))
		el(&b, 6, "lbmethod", v.LBMethod)
		if len(v.StickySession) > 0 {
			el(&b, 6, "scolonpathdelim", "On")
		}
		b.WriteString("      <httpd:workers>\n")
		for _, m := range v.Members {
			b.WriteString("        <httpd:worker>\n")
			el(&b, 10, "name", m.Name)
			el(&b, 10, "scheme", m.Scheme)
			el(&b, 10, "hostname", m.Hostname)
			el(&b, 10, "loadfactor", strconv.Itoa(m.LoadFactor))
			el(&b, 10, "port", m.Port)
			el(&b, 10, "smax", strconv.Itoa(m.SMax))
			el(&b, 10, "ttl", strconv.FormatFloat(m.TTLSeconds, 'f', -1, 64))
			el(&b, 10, "timeout", strconv.FormatFloat(m.TimeoutSeconds, 'f', -1, 64))
			el(&b, 10, "status", m.StatusText)
			if m.ErrorTime != "" {
				if t, err := time.Parse(time.RFC3339, m.ErrorTime); err == nil {
					el(&b, 10, "error_time", t.Format(time.RFC1123))
				}
			}
			el(&b, 10, "retries", strconv.FormatUint(m.Retries, 10))
			el(&b, 10, "transferred", strconv.FormatUint(m.Transferred, 10))
			el(&b, 10, "read", strconv.FormatUint(m.Read, 10))
			el(&b, 10, "elected", strconv.FormatUint(m.Elected, 10))
			el(&b, 10, "route", m.Route)
			el(&b, 10, "redirect", m.Redirect)
			el(&b, 10, "busy", strconv.FormatInt(m.Busy, 10))
			el(&b, 10, "lbset", strconv.Itoa(m.LBSet))
			el(&b, 10, "errors", strconv.FormatUint(m.Errors, 10))
			el(&b, 10, "connectiontimeout", strconv.FormatFloat(m.ConnectionTimeoutSeconds*1000, 'f', -1, 64))
			el(&b, 10, "retry", strconv.FormatFloat(m.RetrySeconds, 'f', -1, 64))
			b.WriteString("        </httpd:worker>\n")
		}
		b.WriteString("      </httpd:workers>\n    </httpd:balancer>\n")
	}
	b.WriteString("  </httpd:balancers>\n</httpd:manager>")
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(b.Bytes())
}

func el(b *bytes.Buffer, indent int, name, value string) {
	b.WriteString(strings.Repeat(" ", indent))
	b.WriteString("<httpd:" + name + ">")
	xml.EscapeText(b, []byte(value))
	b.WriteString("</httpd:" + name + ">\n")
}

func onOff(b bool) string {
	if b {
		return "On"
	}
	return "Off"
}
