package admin

import (
	"net/http"
)

// ExplainQuery describes a request that has not been sent, for
// /api/v1/explain: its URL (absolute, "http://host/path?query", or a path),
// method (default GET) and Cookie header.
type ExplainQuery struct {
	URL    string
	Method string
	Cookie string
}

// ExplainFunc explains how the request path would route q, from the same
// code it runs; the result is sent as JSON. An error means q is not a
// request (400). cmd wires proxy.Explain here.
type ExplainFunc func(q ExplainQuery) (any, error)

// apiExplain answers GET /api/v1/explain?url=...&cookie=...&method=...
func (h *Handler) apiExplain(w http.ResponseWriter, r *http.Request) {
	if h.explain == nil {
		writeProblem(w, r, http.StatusNotImplemented, "explain is not available in this build")
		return
	}
	q := ExplainQuery{URL: r.URL.Query().Get("url"), Method: r.URL.Query().Get("method"), Cookie: r.URL.Query().Get("cookie")}
	if q.URL == "" {
		writeProblem(w, r, http.StatusBadRequest, "explain needs url=<the request's URL or path>")
		return
	}
	res, err := h.explain(q)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}
