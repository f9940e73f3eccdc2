package main

import (
	"fmt"
	"strings"

	"wasmplugin.test/plugins/go-common/pluginconfig"
	"wasmplugin.test/plugins/go-common/upstream"
)

// config is the parsed pluginConfig, defaults applied. Immutable after parseConfig.
type config struct {
	issuer          string
	audiences       []string // empty: aud is not checked
	jwks            upstream.Upstream
	jwksTTLSeconds  int64
	jwksTimeoutMS   uint32
	allowedExact    map[string]bool
	allowedPrefixes []string
	clockSkew       int64
	realm           string
	unknownKeys     []string
}

const (
	defaultJWKSTTLSeconds = 300
	defaultJWKSTimeoutMS  = 5000
	defaultClockSkew      = 60
	defaultRealm          = "wasmplugin"
)

// oneOf reads a key that has two accepted spellings (the blog's AUTHN example
// uses issuer/audience, its "complete" example jwt_issuer/jwt_audience).
func oneOf(o *pluginconfig.Object, a, b string) (string, error) {
	hasA, hasB := o.Has(a), o.Has(b)
	if hasA && hasB {
		return "", pluginconfig.KeyError(b, "give either %s or %s, not both", a, b)
	}
	if hasB {
		return b, nil
	}
	return a, nil
}

func parseConfig(data []byte) (*config, error) {
	o, err := pluginconfig.Parse(data)
	if err != nil {
		return nil, err
	}
	c := &config{
		jwksTTLSeconds: defaultJWKSTTLSeconds,
		jwksTimeoutMS:  defaultJWKSTimeoutMS,
		allowedExact:   map[string]bool{},
		clockSkew:      defaultClockSkew,
		realm:          defaultRealm,
	}

	issKey, err := oneOf(o, "issuer", "jwt_issuer")
	if err != nil {
		return nil, err
	}
	iss, ok, err := o.Str(issKey)
	if err != nil {
		return nil, err
	}
	if !ok || iss == "" {
		return nil, pluginconfig.KeyError("issuer", "required (the expected \"iss\" claim); also accepted as jwt_issuer")
	}
	c.issuer = iss

	audKey, err := oneOf(o, "audience", "jwt_audience")
	if err != nil {
		return nil, err
	}
	auds, _, err := o.Strings(audKey, true)
	if err != nil {
		return nil, err
	}
	for i, a := range auds {
		if a == "" {
			return nil, pluginconfig.KeyError(fmt.Sprintf("%s[%d]", audKey, i), "must not be empty")
		}
	}
	c.audiences = auds

	jwksURI, ok, err := o.Str("jwks_uri")
	if err != nil {
		return nil, err
	}
	if !ok {
		// OpenID-style default, matching the blog's pair of issuer and jwks_uri.
		jwksURI = strings.TrimSuffix(iss, "/") + "/.well-known/jwks.json"
	}
	cluster, _, err := o.Str("jwks_cluster")
	if err != nil {
		return nil, err
	}
	uriKey := "jwks_uri"
	if !ok {
		uriKey = "issuer"
	}
	if c.jwks, err = upstream.Parse(uriKey, jwksURI, cluster); err != nil {
		return nil, err
	}

	ttlKey, err := oneOf(o, "jwks_cache_ttl_seconds", "cache_ttl_seconds")
	if err != nil {
		return nil, err
	}
	if v, ok, err := o.Int(ttlKey, 0, 86400*365); err != nil {
		return nil, err
	} else if ok {
		c.jwksTTLSeconds = v
	}
	if v, ok, err := o.Int("jwks_timeout_ms", 1, 600000); err != nil {
		return nil, err
	} else if ok {
		c.jwksTimeoutMS = uint32(v)
	}
	if v, ok, err := o.Int("clock_skew_seconds", 0, 86400); err != nil {
		return nil, err
	} else if ok {
		c.clockSkew = v
	}
	if v, ok, err := o.Str("realm"); err != nil {
		return nil, err
	} else if ok {
		if strings.ContainsAny(v, "\"\\\r\n") {
			return nil, pluginconfig.KeyError("realm", "must not contain quotes, backslashes or line breaks")
		}
		c.realm = v
	}

	paths, _, err := o.Strings("allowed_paths", false)
	if err != nil {
		return nil, err
	}
	for i, p := range paths {
		if !strings.HasPrefix(p, "/") {
			return nil, pluginconfig.KeyError(fmt.Sprintf("allowed_paths[%d]", i), "must start with '/', got %q", p)
		}
		if strings.HasSuffix(p, "*") {
			c.allowedPrefixes = append(c.allowedPrefixes, strings.TrimSuffix(p, "*"))
		} else {
			c.allowedExact[p] = true
		}
	}
	c.unknownKeys = o.Unknown()
	return c, nil
}

// allowed reports whether a request path passes without a token. The query
// string is ignored; an entry ending in '*' matches every path with that prefix,
// any other entry matches exactly.
func (c *config) allowed(path string) bool {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if c.allowedExact[path] {
		return true
	}
	for _, p := range c.allowedPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// UnknownKeys are the top-level keys this plugin does not know (logged as warnings at start).
func (c *config) UnknownKeys() []string { return c.unknownKeys }

// Summary is what the start-up log line says about the configuration.
func (c *config) Summary() string {
	aud := "not checked"
	if len(c.audiences) > 0 {
		aud = strings.Join(c.audiences, ",")
	}
	return fmt.Sprintf("issuer=%s audience=%s jwks_uri=%s jwks_cluster=%s jwks_cache_ttl_seconds=%d allowed_paths=%d clock_skew_seconds=%d",
		c.issuer, aud, c.jwks.URI, c.jwks.Cluster, c.jwksTTLSeconds, len(c.allowedExact)+len(c.allowedPrefixes), c.clockSkew)
}
