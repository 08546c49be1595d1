// Package config reads barkeep's YAML configuration file.
//
// The file is decoded through yaml.Node so every problem is reported as
// "FILE:LINE: field: why"; unknown keys are errors, and all problems are
// reported at once. Keys follow httpd's vocabulary (lbmethod,
// stickysession, loadfactor, connectiontimeout...) so httpd users recognise
// them; docs/config.md documents each one. The package holds no runtime
// state: cmd turns a Config into the Options of the other packages.
package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Config is the whole file. Zero values are replaced by the defaults noted
// on each field before the file is read, so an absent key keeps its
// default.
type Config struct {
	// Listen holds the client listeners, "host:port"; default
	// ["127.0.0.1:8000"].
	Listen []string `yaml:"listen"`
	// TLS adds client listeners that terminate TLS.
	TLS TLS `yaml:"tls"`
	// Server tunes the client listeners.
	Server Server `yaml:"server"`
	// Admin is the console, API and metrics listener.
	Admin Admin `yaml:"admin"`
	// Manager is the MCMP listener that mod_cluster workers register with.
	Manager Manager `yaml:"manager"`
	// Log configures barkeep's own log.
	Log Log `yaml:"log"`
	// AccessLog configures the one-line-per-request log.
	AccessLog AccessLog `yaml:"access_log"`
	// Balancers are the balancer groups.
	Balancers []Balancer `yaml:"balancers"`
	// Routes map client paths to balancers.
	Routes []Route `yaml:"routes"`
	// HCTemplates are named health-check settings members and balancers
	// refer to with hctemplate.
	HCTemplates []HCTemplate `yaml:"hctemplates"`
	// Cluster joins this balancer to a cluster of balancers sharing one
	// registry; nil (absent) runs alone.
	Cluster *Cluster `yaml:"cluster"`

	file string
	pos  map[string]int // field path -> line
}

// TLS configures the TLS client listeners. They serve HTTP/2 and
// HTTP/1.1 (ALPN) with the same routes as the plain listeners.
type TLS struct {
	// Listen holds the TLS client listeners, "host:port"; default none.
	Listen []string `yaml:"listen"`
	// Cert and Key are PEM files: the certificate chain and its key.
	// SIGHUP reads them again (a renewed certificate needs no restart).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// MinVersion is the oldest TLS version accepted: "1.2" (default) or
	// "1.3".
	MinVersion string `yaml:"min_version"`
}

// Server tunes the HTTP server behind the client listeners.
type Server struct {
	// ReadHeaderTimeout bounds reading a client's request headers; default
	// 30s (httpd's RequestReadTimeout header=).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout is how long an idle keep-alive client connection is kept;
	// default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds the size of a request's headers; larger
	// requests get 431. Default 65536 (64 KiB).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ShutdownTimeout is how long in-flight requests may take to finish
	// after SIGTERM or SIGINT; default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxHeaderFields is the most request header lines accepted; more get
	// 431 (httpd's LimitRequestFields). Default 100.
	MaxHeaderFields int `yaml:"max_header_fields"`
	// MergeSlashes merges repeated slashes in request paths before they
	// are matched and forwarded (httpd's MergeSlashes); default true.
	MergeSlashes bool `yaml:"merge_slashes"`
	// AllowEncodedSlashes lets "%2F" in a path through, still encoded
	// (httpd's AllowEncodedSlashes NoDecode); default false: 404.
	AllowEncodedSlashes bool `yaml:"allow_encoded_slashes"`
	// BodyTimeout is how long a client has to send its request body,
	// extended by one second per BodyMinRate bytes received (httpd's
	// RequestReadTimeout body=20,MinRate=500); slower clients get 408.
	// Default 20s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// BodyMinRate is in bytes per second; default 500.
	BodyMinRate int `yaml:"body_min_rate"`
	// BufferBody is the largest body, in bytes, held in memory: request
	// bodies up to it can be sent again to another member after a failed
	// attempt; response bodies up to it are read whole before they are
	// passed on. Larger bodies stream. Default 65536.
	BufferBody int `yaml:"buffer_body"`
	// HangDetect puts a member in error state when requests have waited
	// this long for its first response byte while it answered nothing at
	// all; its waiting idempotent requests go to other members. Default 0
	// (off): a health check or the member's timeout does that.
	HangDetect time.Duration `yaml:"hang_detect"`
}

// Admin configures the admin listener.
type Admin struct {
	// Listen is "host:port" for the balancer-manager page, the API and
	// /metrics; default "127.0.0.1:8090" (loopback). "" disables it.
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiler under /debug/pprof/ on the admin
	// listener; default false.
	Pprof bool `yaml:"pprof"`
	// Hosts are the names the admin listener (and the mod_cluster_manager
	// page on the manager listener) is reached by, besides IP addresses,
	// localhost and the listen host: requests with another Host get 403
	// (DNS rebinding). Default none.
	Hosts []string `yaml:"hosts"`
	// Tokens are bearer tokens for the admin listener; with any, every
	// request but /healthz must send one ("Authorization: Bearer <token>",
	// or a browser's Basic password) and changes need the operator role.
	// Default none: anything that can connect may read and change.
	Tokens []AdminToken `yaml:"tokens"`
	// TLS serves the admin listener over HTTPS; with ClientCA a client
	// certificate signed by it is required (mTLS).
	TLS AdminTLS `yaml:"tls"`
	// StateFile keeps runtime changes made through the API, the console
	// and the balancer-manager to configured balancers, rewritten
	// atomically after each change and applied again at start and after a
	// reload; default "" (changes last until the next restart or reload).
	StateFile string `yaml:"state_file"`
}

// AdminToken is one bearer token of the admin listener.
type AdminToken struct {
	// Name identifies the holder in the audit log; required.
	Name string `yaml:"name"`
	// Token is the secret itself, at least 16 characters; required.
	Token string `yaml:"token"`
	// Role is read (reads only) or operator (reads and changes); default
	// read.
	Role string `yaml:"role"`
}

// AdminTLS holds PEM file names for the admin listener, and the role of a
// client certificate.
type AdminTLS struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
	// ClientRole is the role of a verified client certificate (read or
	// operator); default operator.
	ClientRole string `yaml:"client_role"`
}

// Manager configures the MCMP manager listener (mod_cluster's
// EnableMCMPReceive virtual host and mod_manager's directives).
type Manager struct {
	// Listen is "host:port" for MCMP; default "" (no manager listener).
	Listen string `yaml:"listen"`
	// Allow lists the networks (CIDR) whose workers may register; others
	// get 403. Default ["127.0.0.0/8", "::1/128"].
	Allow []string `yaml:"allow"`
	// TLS serves MCMP over TLS; with ClientCA a verified client certificate
	// is required.
	TLS ManagerTLS `yaml:"tls"`
	// Balancer is the balancer of nodes whose CONFIG names none
	// (ManagerBalancerName); default "mycluster".
	Balancer string `yaml:"balancer"`
	// LBStatusRecalc is LBstatusRecalTime: how often the cluster lbmethod
	// starts a new window; default 5s.
	LBStatusRecalc time.Duration `yaml:"lbstatus_recalc"`
	// WaitForRemove is WaitBeforeRemove: how long a node stays listed after
	// REMOVE-APP "/*"; default 10s, at least 10s.
	WaitForRemove time.Duration `yaml:"wait_for_remove"`
	// MaxMessageSize is MaxMCMPMessSize in bytes, at least 1024; default
	// 0: computed from the table sizes (13188 with the defaults).
	MaxMessageSize int `yaml:"max_message_size"`
	// StopAppWait is how long a STOP-APP that finds requests in flight
	// waits for them to end before answering with the count; default
	// 500ms, 0 answers at once, at most 10s.
	StopAppWait time.Duration `yaml:"stop_app_wait"`
	// AllowBackends limits the addresses nodes may register with: CIDRs,
	// IP addresses and host names ("*.example.com" for a domain); a host
	// name that is not listed is resolved and all its addresses must be in
	// the networks. Default empty: any address, as mod_cluster.
	AllowBackends []string `yaml:"allow_backends"`
	// UseAlias routes to a context only for requests whose host is an
	// alias of its virtual host; default false.
	UseAlias bool `yaml:"use_alias"`
	// Persist is a file keeping nodes, aliases and contexts across
	// restarts; default "" (PersistSlots off).
	Persist string `yaml:"persist"`
	// MaxNode, MaxHost and MaxContext size the node, alias and context
	// tables (Maxnode, Maxhost, Maxcontext); defaults 20, 20, 100.
	MaxNode    int `yaml:"maxnode"`
	MaxHost    int `yaml:"maxhost"`
	MaxContext int `yaml:"maxcontext"`
	// Advertise, when present (even empty), multicasts the manager
	// listener's address so workers find it (mod_advertise); default off.
	Advertise *Advertise `yaml:"advertise"`
}

// Advertise configures the advertise sender (mod_advertise). Empty values
// take the defaults noted.
type Advertise struct {
	// Group is the IPv4 multicast group, "ip:port"; default
	// "224.0.1.105:23364" (AdvertiseGroup).
	Group string `yaml:"group"`
	// Interval is the time between datagrams; default 10s
	// (AdvertiseFrequency).
	Interval time.Duration `yaml:"interval"`
	// SecurityKey salts the datagrams' digest; workers need the same key
	// (AdvertiseSecurityKey). Default "".
	SecurityKey string `yaml:"security_key"`
	// ManagerURL is sent as X-Manager-Url; default "/" + a random id
	// (AdvertiseManagerUrl).
	ManagerURL string `yaml:"manager_url"`
	// Interface names the network interface datagrams leave by; default
	// "": the system's route for the group (AdvertiseBindAddress).
	Interface string `yaml:"interface"`
}

// ManagerTLS holds PEM file names for the manager listener.
type ManagerTLS struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
}

// Log configures barkeep's log (not the access log).
type Log struct {
	// Format is text or json; default text.
	Format LogFormat `yaml:"format"`
	// Level is debug, info, warn or error; default info.
	Level LogLevel `yaml:"level"`
}

// AccessLog configures the access log.
type AccessLog struct {
	// Path is the file lines are appended to; "-" is standard output
	// (default), "off" disables the access log.
	Path string `yaml:"path"`
	// Format is combined (Apache combined plus barkeep's fields, default)
	// or json.
	Format AccessLogFormat `yaml:"format"`
}

// Balancer is one balancer group (httpd's balancer://name).
type Balancer struct {
	// Name identifies the balancer in routes, logs and the console.
	Name string `yaml:"name"`
	// LBMethod is byrequests (default), bytraffic, bybusyness or random.
	LBMethod LBMethod `yaml:"lbmethod"`
	// StickySession lists the session cookie / path parameter names;
	// default [JSESSIONID, jsessionid]; [] disables sticky sessions.
	StickySession []string `yaml:"stickysession"`
	// StickySessionSep is the one character after which the route starts
	// in a session id; default ".".
	StickySessionSep string `yaml:"stickysessionsep"`
	// NoFailover answers 503 instead of failing over when a sticky
	// request's member (and its redirect) is unusable; default false.
	NoFailover bool `yaml:"nofailover"`
	// MaxAttempts is how many further members are tried after a failure;
	// default: the number of members minus one.
	MaxAttempts *int `yaml:"maxattempts"`
	// Timeout is how long a request waits for a usable member (or a free
	// slot under members' max) before 503; default 0s (no wait).
	Timeout time.Duration `yaml:"timeout"`
	// FailOnStatus lists statuses (codes, ranges such as 500-599, classes
	// such as 5xx) that put the member answering them in error state; the
	// answer still reaches the client. Default none.
	FailOnStatus []string `yaml:"failonstatus"`
	// FailOnTimeout puts a member that answers nothing within its timeout
	// in error state; default true.
	FailOnTimeout bool `yaml:"failontimeout"`
	// SlowStart is the default slowstart of the members; default 0s.
	SlowStart time.Duration `yaml:"slowstart"`
	// HealthCheckKeys set the members' health check (see Member).
	HealthCheckKeys `yaml:",inline"`
	// Members are the backends.
	Members []Member `yaml:"members"`
}

// Member is one backend (httpd's BalancerMember).
type Member struct {
	// URL is scheme://host[:port]; scheme http, https, h2c or ajp. No path.
	URL string `yaml:"url"`
	// Route is the member's jvmRoute, the text after the separator in its
	// session ids; default "" (no sticky sessions to it).
	Route string `yaml:"route"`
	// LoadFactor is the member's share of traffic, 1..100; default 1.
	LoadFactor int `yaml:"loadfactor"`
	// LBSet is the member's priority set, 0..99: lower sets are used while
	// any of their members is usable; default 0.
	LBSet int `yaml:"lbset"`
	// Redirect is the route that takes this member's sticky requests while
	// it is unusable; default "".
	Redirect string `yaml:"redirect"`
	// Status holds initial flags: D disabled, S stopped, I ignore errors,
	// H hot standby, N drain; default "".
	Status StatusFlags `yaml:"status"`
	// Retry is how long a failed (or disabled) member is left alone before
	// it is tried again; default 60s.
	Retry time.Duration `yaml:"retry"`
	// ConnectionTimeout bounds connecting to the member; default 5s.
	ConnectionTimeout time.Duration `yaml:"connectiontimeout"`
	// Timeout bounds the wait for the first response byte; default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// SMax is how many idle keep-alive connections to the member are kept;
	// default 64.
	SMax int `yaml:"smax"`
	// TTL is how long an idle connection to the member is kept; default 60s.
	TTL time.Duration `yaml:"ttl"`
	// DisableReuse closes the connection after each request; default false.
	DisableReuse bool `yaml:"disablereuse"`
	// Secret is sent to an ajp member as the AJP secret (Tomcat's
	// connector secret); default "".
	Secret string `yaml:"secret"`
	// Ping, for an ajp member, sends a CPING before every request; no CPONG
	// within Ping puts the member in error and the request goes elsewhere
	// (mod_proxy_ajp's ping=). Default 0s (off).
	Ping time.Duration `yaml:"ping"`
	// FlushPackets sends each chunk of an ajp member's response to the
	// client at once; default false.
	FlushPackets bool `yaml:"flushpackets"`
	// Max is how many requests the member takes at once; when every usable
	// member is at its max, requests queue up to the balancer's timeout,
	// then get 503. Default 0 (no limit).
	Max int `yaml:"max"`
	// SlowStart ramps a member that comes back from error (or a failed
	// health check) or is new up to its full share over this long; default
	// the balancer's slowstart.
	SlowStart *time.Duration `yaml:"slowstart"`
	// HealthCheckKeys set an active health check (hcmethod, hcuri,
	// hcinterval, hcpasses, hcfails, hcexpr, hctemplate).
	HealthCheckKeys `yaml:",inline"`
}

// Route maps a client path prefix to a balancer (httpd's ProxyPass,
// ProxyPassReverse, ProxyPassReverseCookiePath/Domain, ProxyPreserveHost).
type Route struct {
	// Path is the client path prefix; the longest match on "/" boundaries
	// wins.
	Path string `yaml:"path"`
	// Pass is false for an exclusion (ProxyPass "!"); default true.
	Pass bool `yaml:"pass"`
	// Balancer names the balancer serving the route.
	Balancer string `yaml:"balancer"`
	// TargetPath is the member-side path that Path maps to; default: the
	// same as Path (requests are forwarded unchanged).
	TargetPath string `yaml:"target_path"`
	// Reverse rewrites Location, Content-Location and URI response headers
	// pointing at a member to the client-visible URL; default false.
	Reverse bool `yaml:"reverse"`
	// ReverseCookiePath replaces the TargetPath prefix of Set-Cookie paths
	// with this path; default "" (no rewriting).
	ReverseCookiePath string `yaml:"reverse_cookie_path"`
	// ReverseCookieDomain replaces Set-Cookie domains naming a member host;
	// default "" (no rewriting).
	ReverseCookieDomain string `yaml:"reverse_cookie_domain"`
	// PreserveHost sends the client's Host header to the member; default
	// false (the member's host:port is sent).
	PreserveHost bool `yaml:"preserve_host"`
}

func (c *Config) setDefaults() {
	c.Listen = []string{"127.0.0.1:8000"}
	c.TLS.MinVersion = "1.2"
	c.Server = Server{
		ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: 64 << 10, ShutdownTimeout: 30 * time.Second,
		MaxHeaderFields: 100, MergeSlashes: true, BodyTimeout: 20 * time.Second, BodyMinRate: 500,
		BufferBody: 64 << 10,
	}
	c.Admin.Listen = "127.0.0.1:8090"
	c.Manager = Manager{
		Allow: []string{"127.0.0.0/8", "::1/128"}, Balancer: "mycluster",
		LBStatusRecalc: 5 * time.Second, WaitForRemove: 10 * time.Second,
		MaxNode: 20, MaxHost: 20, MaxContext: 100, StopAppWait: 500 * time.Millisecond,
	}
	c.Log = Log{Format: "text", Level: "info"}
	c.AccessLog = AccessLog{Path: "-", Format: "combined"}
}

func (b *Balancer) setDefaults() {
	b.LBMethod = "byrequests"
	b.FailOnTimeout = true
	b.StickySession = []string{"JSESSIONID", "jsessionid"}
	b.StickySessionSep = "."
}

func (m *Member) setDefaults() {
	m.LoadFactor = 1
	m.Retry = 60 * time.Second
	m.ConnectionTimeout = 5 * time.Second
	m.Timeout = 60 * time.Second
	m.SMax = 64
	m.TTL = 60 * time.Second
}

func (r *Route) setDefaults() { r.Pass = true }

// Line returns the line of the field at path (for example
// "balancers[0].members[1].url"), or 0 when it was not in the file.
func (c *Config) Line(path string) int { return c.pos[path] }

// File returns the name the configuration was read from.
func (c *Config) File() string { return c.file }

// setEnum stores text in dst if it is one of names, so a typo fails at
// load time with the list of what is accepted.
func setEnum[T ~string](dst *T, text []byte, kind string, names ...string) error {
	if !slices.Contains(names, string(text)) {
		return fmt.Errorf("unknown %s %q (want %s)", kind, text, strings.Join(names, ", "))
	}
	*dst = T(text)
	return nil
}

// LBMethod names an lbmethod: byrequests, bytraffic, bybusyness or random.
type LBMethod string

// UnmarshalText rejects unknown methods.
func (m *LBMethod) UnmarshalText(b []byte) error {
	return setEnum(m, b, "lbmethod", "byrequests", "bytraffic", "bybusyness", "random")
}

// LogFormat is text or json.
type LogFormat string

// UnmarshalText rejects unknown formats.
func (f *LogFormat) UnmarshalText(b []byte) error { return setEnum(f, b, "log format", "text", "json") }

// LogLevel is debug, info, warn or error.
type LogLevel string

// UnmarshalText rejects unknown levels.
func (l *LogLevel) UnmarshalText(b []byte) error {
	return setEnum(l, b, "log level", "debug", "info", "warn", "error")
}

// AccessLogFormat is combined or json.
type AccessLogFormat string

// UnmarshalText rejects unknown formats.
func (f *AccessLogFormat) UnmarshalText(b []byte) error {
	return setEnum(f, b, "access log format", "combined", "json")
}

// StatusFlags are member status letters: any of D S I H N, each once.
type StatusFlags string

// UnmarshalText rejects unknown or repeated letters (E and C are runtime
// states, not settable flags).
func (s *StatusFlags) UnmarshalText(b []byte) error {
	seen := map[rune]bool{}
	for _, r := range strings.ToUpper(string(b)) {
		switch {
		case r == ' ' || r == ',':
			continue
		case !strings.ContainsRune("DSIHN", r):
			return fmt.Errorf("unknown status flag %q (want any of D disabled, S stopped, I ignore errors, H hot standby, N drain)", r)
		case seen[r]:
			return fmt.Errorf("status flag %q given twice", r)
		}
		seen[r] = true
	}
	*s = StatusFlags(b)
	return nil
}
