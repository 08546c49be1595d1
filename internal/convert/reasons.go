package convert

import "strings"

// reasons says why a directive barkeep has no key for is left out, by
// name (lower case).
var reasons = map[string]string{
	"errorlog":                "barkeep logs to standard error (the journal under systemd); log.format and log.level tune it",
	"servername":              "barkeep routes by path on every listener; name-based virtual hosts are not separated",
	"serveralias":             "barkeep routes by path on every listener; name-based virtual hosts are not separated",
	"documentroot":            "barkeep serves no files; it only proxies",
	"directoryindex":          "barkeep serves no files; it only proxies",
	"user":                    "run barkeep as its own user (packaging/barkeep.service: User=barkeep)",
	"group":                   "run barkeep as its own user (packaging/barkeep.service: User=barkeep)",
	"pidfile":                 "barkeep writes no PID file; systemd tracks the process",
	"keepalive":               "barkeep always keeps client connections alive (server.idle_timeout)",
	"maxkeepaliverequests":    "barkeep keeps a client connection for any number of requests",
	"limitrequestfieldsize":   "barkeep limits all request headers together: server.max_header_bytes",
	"limitrequestfields":      "barkeep limits all request headers together: server.max_header_bytes",
	"limitrequestline":        "barkeep limits all request headers together: server.max_header_bytes",
	"proxyvia":                "barkeep adds no Via header",
	"proxyaddheaders":         "barkeep always adds X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto",
	"proxyerroroverride":      "barkeep passes members' error pages through unchanged",
	"proxystatus":             "barkeep's member statistics are always on the admin listener (balancer-manager, /metrics)",
	"proxyhctpsize":           "not needed: barkeep's health checks need no thread pool",
	"balancerpersist":         "balancer-manager changes last until the next reload; keep the configuration file as the source of truth",
	"balancerinherit":         "barkeep's balancers are global; there is nothing to inherit",
	"balancergrowth":          "not needed: members can be added at any time (reload or admin API)",
	"proxyiobuffersize":       "buffer sizes are not configurable",
	"proxyreceivebuffersize":  "buffer sizes are not configurable",
	"proxymaxforwards":        "barkeep does not use Max-Forwards",
	"proxybadheader":          "barkeep refuses malformed member headers (502)",
	"proxypassinherit":        "barkeep's routes are global; there is nothing to inherit",
	"proxypassinterpolateenv": "${...} in ProxyPass URLs at request time is not supported",
	"proxyset":                "ProxySet needs a balancer:// or member URL",
	"sethandler":              "barkeep has no handlers other than the balancer-manager and mod_cluster_manager pages",
	"addtype":                 "barkeep serves no files; it only proxies",
	"adddefaultcharset":       "barkeep passes members' responses through unchanged",
	"options":                 "barkeep serves no files; it only proxies",
	"allowoverride":           "barkeep serves no files; it only proxies",
	"hostnamelookups":         "barkeep logs client addresses, never looks up names",
	"servertokens":            "barkeep adds no Server header of its own",
	"serversignature":         "barkeep's own error pages carry no signature",
	"traceenable":             "barkeep forwards TRACE like any method; answer it (or not) on the members",
	"mutex":                   "not needed",
	"accessfilename":          "barkeep serves no files; it only proxies",
	"serveradmin":             "barkeep's error pages name no administrator",
	"usecanonicalname":        "not needed: barkeep sends the client's host in X-Forwarded-Host (and Host with preserve_host)",
	"startservers":            "barkeep is one process with goroutines; there are no server processes or threads to size",
	"minsparethreads":         "barkeep is one process with goroutines; there are no server processes or threads to size",
	"maxsparethreads":         "barkeep is one process with goroutines; there are no server processes or threads to size",
	"threadlimit":             "barkeep is one process with goroutines; there are no server processes or threads to size",
	"threadsperchild":         "barkeep is one process with goroutines; there are no server processes or threads to size",
	"maxrequestworkers":       "barkeep is one process with goroutines; limit members with max instead",
	"maxconnectionsperchild":  "barkeep is one process with goroutines; there are no server processes or threads to size",
	"serverlimit":             "barkeep is one process with goroutines; there are no server processes or threads to size",
	"minspareservers":         "barkeep is one process with goroutines; there are no server processes or threads to size",
	"maxspareservers":         "barkeep is one process with goroutines; there are no server processes or threads to size",
}

// reasonFor says why d is left out.
func reasonFor(d *Directive) string {
	n := strings.ToLower(d.Name)
	if r, ok := reasons[n]; ok {
		return r
	}
	switch {
	case strings.HasPrefix(n, "rewrite"):
		return "mod_rewrite: not supported; route this path with `routes` (path, target_path)"
	case strings.HasPrefix(n, "ssl"):
		return "mod_ssl: barkeep's TLS listeners take tls.listen, tls.cert, tls.key and tls.min_version only"
	case n == "header" || n == "requestheader":
		return "mod_headers: barkeep does not edit headers (it adds X-Forwarded-* and rewrites Location with reverse)"
	case n == "alias" || n == "aliasmatch" || n == "scriptalias" || n == "redirect" || n == "redirectmatch" || n == "redirectpermanent" || n == "redirecttemp":
		return "mod_alias: barkeep serves no files and sends no redirects of its own; let a member redirect"
	case strings.HasPrefix(n, "auth") || n == "require" || strings.HasPrefix(n, "<require"):
		return "authentication and access control are not supported on proxied requests; filter in front of barkeep"
	case strings.HasPrefix(n, "<directory") || strings.HasPrefix(n, "<files"):
		return "barkeep serves no files; this section and its directives do not apply"
	case strings.HasPrefix(n, "<"):
		return "this section is not mapped; its directives are left out"
	case strings.HasPrefix(n, "proxy"):
		return "mod_proxy: not supported"
	case strings.HasPrefix(n, "deflate") || n == "addoutputfilterbytype" || n == "setoutputfilter":
		return "barkeep does not compress; members' compressed responses pass through"
	case strings.HasPrefix(n, "expires") || strings.HasPrefix(n, "cache"):
		return "barkeep does not cache"
	}
	return "not a load-balancing setting; barkeep has no equivalent"
}
