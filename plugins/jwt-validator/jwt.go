package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
)

// tokenError is a rejected token; its message becomes the error_description
// of the 401 answer, so it says what is wrong without echoing the token.
type tokenError struct{ desc string }

func (e *tokenError) Error() string { return e.desc }

func reject(desc string) error { return &tokenError{desc: desc} }

// errUnknownKid: the token names a key the cached JWKS lacks (maybe rotated).
var errUnknownKid = reject("no key in the JWKS matches the token's kid")

// identity is what a valid token tells later filters.
type identity struct {
	subject string
	scopes  []string
}

type tokenHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// verifyToken checks a compact JWS (RS256 or ES256) against the key set, then
// its claims: iss, aud (when configured), exp (required) and nbf, allowing
// c.clockSkew seconds either way. now is Unix seconds.
func verifyToken(token string, ks *keySet, c *config, now int64) (*identity, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, reject("malformed token")
	}
	hb, err := b64(parts[0])
	if err != nil {
		return nil, reject("malformed token header")
	}
	var h tokenHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, reject("malformed token header")
	}
	if h.Crit != nil {
		return nil, reject("unsupported critical header parameters")
	}
	if h.Alg != "RS256" && h.Alg != "ES256" {
		return nil, reject("unsupported alg \"" + sanitize(h.Alg) + "\" (RS256 and ES256 are accepted)")
	}
	sig, err := b64(parts[2])
	if err != nil {
		return nil, reject("malformed token signature")
	}
	var candidates []*jwk
	kidSeen := false
	for i := range ks.keys {
		k := &ks.keys[i]
		if h.Kid != "" && k.kid != h.Kid {
			continue
		}
		kidSeen = true
		if k.supports(h.Alg) {
			candidates = append(candidates, k)
		}
	}
	if h.Kid != "" && !kidSeen {
		return nil, errUnknownKid
	}
	if len(candidates) == 0 {
		return nil, reject("no " + h.Alg + " key in the JWKS for this token")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	verified := false
	for _, k := range candidates {
		if checkSignature(k, h.Alg, digest[:], sig) {
			verified = true
			break
		}
	}
	if !verified {
		return nil, reject("signature verification failed")
	}

	pb, err := b64(parts[1])
	if err != nil {
		return nil, reject("malformed token payload")
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, reject("malformed token payload")
	}
	return checkClaims(claims, c, now)
}

func checkSignature(k *jwk, alg string, digest, sig []byte) bool {
	switch alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest, sig) == nil
	case "ES256":
		if len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, digest, r, s)
	}
	return false
}

func checkClaims(claims map[string]any, c *config, now int64) (*identity, error) {
	if iss, _ := claims["iss"].(string); iss != c.issuer {
		return nil, reject("issuer mismatch")
	}
	if len(c.audiences) > 0 && !audienceMatches(claims["aud"], c.audiences) {
		return nil, reject("audience mismatch")
	}
	exp, ok := numericDate(claims["exp"])
	if !ok {
		return nil, reject("missing or invalid exp claim")
	}
	if float64(now) > exp+float64(c.clockSkew) {
		return nil, reject("token expired")
	}
	if v, present := claims["nbf"]; present {
		nbf, ok := numericDate(v)
		if !ok {
			return nil, reject("invalid nbf claim")
		}
		if float64(now)+float64(c.clockSkew) < nbf {
			return nil, reject("token not yet valid")
		}
	}
	id := &identity{}
	if sub, ok := claims["sub"].(string); ok {
		id.subject = sub
	}
	id.scopes = scopesOf(claims)
	return id, nil
}

func audienceMatches(aud any, want []string) bool {
	var have []string
	switch v := aud.(type) {
	case string:
		have = []string{v}
	case []any:
		for _, a := range v {
			if s, ok := a.(string); ok {
				have = append(have, s)
			}
		}
	}
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

func numericDate(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// scopesOf reads "scope" (RFC 8693: space-separated string) or "scp" (a list,
// or a string, as some identity providers send it).
func scopesOf(claims map[string]any) []string {
	var out []string
	add := func(v any) {
		switch s := v.(type) {
		case string:
			out = append(out, strings.Fields(s)...)
		case []any:
			for _, it := range s {
				if str, ok := it.(string); ok && str != "" && !strings.ContainsAny(str, " \t") {
					out = append(out, str)
				}
			}
		}
	}
	add(claims["scope"])
	if len(out) == 0 {
		add(claims["scp"])
	}
	return out
}

// sanitize keeps a token-supplied string safe to put in a header and a log line.
func sanitize(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r < 0x7f && r != '"' && r != '\\' {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

var errNoToken = errors.New("missing bearer token")

// bearerToken extracts the token of an "Authorization: Bearer <token>" header.
func bearerToken(header string) (string, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", errNoToken
	}
	scheme, token, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", reject("authorization header is not a Bearer token")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", reject("empty bearer token")
	}
	return token, nil
}
