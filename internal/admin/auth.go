package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// Role is what an authenticated caller of the admin listener may do.
type Role uint8

const (
	// RoleRead may read every page, the API and /metrics, and change
	// nothing.
	RoleRead Role = iota + 1
	// RoleOperator may also change balancers, members and contexts.
	RoleOperator
)

// String returns the role's name in the configuration: "read" or
// "operator".
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleOperator:
		return "operator"
	}
	return "none"
}

// ParseRole returns the role named text ("read" or "operator").
func ParseRole(text string) (Role, error) {
	switch text {
	case "read", "readonly", "read-only":
		return RoleRead, nil
	case "operator":
		return RoleOperator, nil
	}
	return 0, fmt.Errorf("unknown role %q (want read or operator)", text)
}

// Token is one bearer token accepted by the admin listener (admin.tokens).
type Token struct {
	// Name identifies the token's holder in the audit log.
	Name string
	// Secret is the token itself, sent as "Authorization: Bearer <Secret>"
	// (or, from a browser, as the password of HTTP Basic authentication).
	Secret string
	// Role is what the holder may do.
	Role Role
}

// identity is who made a request, as the audit log names them.
type identity struct {
	Name string // token name, certificate subject, or "anonymous"
	Role Role
}

type identityKey struct{}

// who returns the identity the auth layer attached to r's context.
func who(r *http.Request) identity {
	if id, ok := r.Context().Value(identityKey{}).(identity); ok {
		return id
	}
	return identity{Name: "anonymous", Role: RoleOperator}
}

// auth authenticates requests before next when tokens or client
// certificates are configured; without either everyone is an anonymous
// operator (the listener's loopback binding is the protection). /healthz
// is always open. A request that changes something (see changes) needs
// RoleOperator.
type auth struct {
	next     http.Handler
	tokens   []hashedToken
	certRole Role // role of a verified client certificate; 0: certificates do not authenticate
}

type hashedToken struct {
	sum  [32]byte
	name string
	role Role
}

func newAuth(next http.Handler, tokens []Token, certRole Role) http.Handler {
	a := &auth{next: next, certRole: certRole}
	for _, t := range tokens {
		a.tokens = append(a.tokens, hashedToken{sha256.Sum256([]byte(t.Secret)), t.Name, t.Role})
	}
	return a
}

func (a *auth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" || (len(a.tokens) == 0 && a.certRole == 0) {
		a.next.ServeHTTP(w, r)
		return
	}
	id, ok := a.identify(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="barkeep", Basic realm="barkeep"`)
		writeProblem(w, r, http.StatusUnauthorized, "authentication required: send Authorization: Bearer <token> (admin.tokens)")
		return
	}
	if changes(r) && id.Role < RoleOperator {
		writeProblem(w, r, http.StatusForbidden, fmt.Sprintf("%s has the %s role; changes need the operator role", id.Name, id.Role))
		return
	}
	a.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
}

// identify finds the caller: a verified client certificate, else a bearer
// token (or a token as the Basic password, which browsers can send).
func (a *auth) identify(r *http.Request) (identity, bool) {
	if a.certRole != 0 && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		c := r.TLS.VerifiedChains[0][0]
		return identity{Name: "cert:" + c.Subject.CommonName, Role: a.certRole}, true
	}
	secret, ok := "", false
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		secret, ok = strings.TrimSpace(h[7:]), true
	} else if _, pw, basic := r.BasicAuth(); basic {
		secret, ok = pw, true
	}
	if !ok || secret == "" {
		return identity{}, false
	}
	sum := sha256.Sum256([]byte(secret))
	var found *hashedToken
	for i := range a.tokens {
		// Compare every token, so the time taken does not say which matched.
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 {
			found = &a.tokens[i]
		}
	}
	if found == nil {
		return identity{}, false
	}
	return identity{Name: "token:" + found.name, Role: found.role}, true
}
