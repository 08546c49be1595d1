package admin

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Problem is an error answer of the API: RFC 9457 problem details, sent
// as application/problem+json.
type Problem struct {
	// Type is "about:blank": the status says what kind of problem it is.
	Type string `json:"type"`
	// Title is the status text, e.g. "Not Found".
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail says what went wrong with this request, and what to do.
	Detail string `json:"detail"`
	// Instance is the request's path.
	Instance string `json:"instance,omitempty"`
}

// Errors the API maps to statuses (see statusOf).
var (
	// ErrConflict is returned for a change the target does not allow, such
	// as adding a member to a balancer that MCMP nodes own.
	ErrConflict = errors.New("admin: conflict")
	// ErrBadRequest is wrapped by errors in what the request asked.
	ErrBadRequest = errors.New("admin: bad request")
)

func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Instance: r.URL.Path}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// writeError answers err as a problem; its status comes from statusOf.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeProblem(w, r, statusOf(err), err.Error())
}

// statusOf is the one place where errors of the admin listener become
// HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, registry.ErrNoBalancer), errors.Is(err, registry.ErrNoMember), errors.Is(err, errNoNode):
		return http.StatusNotFound
	case errors.Is(err, ErrNonce):
		return http.StatusForbidden
	case errors.Is(err, ErrConflict), errors.Is(err, registry.ErrStale):
		return http.StatusConflict
	case errors.Is(err, errNotCommitted):
		return http.StatusServiceUnavailable
	}
	// Everything else is a change the registry or a field refused.
	return http.StatusBadRequest
}
