package main

import (
	"strings"
	"testing"
)

func TestConfigDefaultsAndDerivedCluster(t *testing.T) {
	c := testConfig(t, `{"jwks_uri": "https://auth.example.com/.well-known/jwks.json",
		"issuer": "https://auth.example.com", "audience": "api.example.com"}`)
	if c.jwks.Cluster != "outbound|443||auth.example.com" || c.jwks.Authority != "auth.example.com" ||
		c.jwks.Path != "/.well-known/jwks.json" {
		t.Errorf("jwks upstream %+v", c.jwks)
	}
	if c.jwksTTLSeconds != 300 || c.jwksTimeoutMS != 5000 || c.clockSkew != 60 || c.realm != "wasmplugin" {
		t.Errorf("defaults %+v", c)
	}
	if len(c.audiences) != 1 || c.audiences[0] != "api.example.com" {
		t.Errorf("audiences %v", c.audiences)
	}
}

func TestConfigCompleteExampleSpellings(t *testing.T) {
	// The blog's "complete" WasmPlugin: jwt_issuer / jwt_audience / cache_ttl_seconds, no jwks_uri.
	c := testConfig(t, `{"jwt_issuer": "https://auth.example.com", "jwt_audience": "api.example.com",
		"cache_ttl_seconds": 300, "allowed_paths": ["/health", "/ready", "/metrics"]}`)
	if c.issuer != "https://auth.example.com" || c.audiences[0] != "api.example.com" || c.jwksTTLSeconds != 300 {
		t.Errorf("config %+v", c)
	}
	if c.jwks.URI != "https://auth.example.com/.well-known/jwks.json" || c.jwks.Cluster != "outbound|443||auth.example.com" {
		t.Errorf("derived jwks %+v", c.jwks)
	}
	if len(c.unknownKeys) != 0 {
		t.Errorf("unknown keys %v", c.unknownKeys)
	}
}

func TestAllowedPaths(t *testing.T) {
	c := testConfig(t, `{"issuer": "https://i.example", "allowed_paths": ["/health", "/public/*", "/exact/"]}`)
	for path, want := range map[string]bool{
		"/health": true, "/health?probe=1": true, "/health/x": false, "/healthz": false,
		"/public/": true, "/public/a/b": true, "/public": false,
		"/exact/": true, "/exact/more": false, "/": false, "": false,
	} {
		if got := c.allowed(path); got != want {
			t.Errorf("allowed(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		``:                                   "pluginConfig.issuer: required",
		`{}`:                                 "pluginConfig.issuer: required",
		`{"issuer": ""}`:                     "pluginConfig.issuer: required",
		`[1]`:                                "pluginConfig: must be a JSON object, got array",
		`{"issuer": "https://i.example",}`:   "pluginConfig: invalid JSON",
		`{"issuer": 42}`:                     "pluginConfig.issuer: expected a string, got number",
		`{"jwt_issuer": true}`:               "pluginConfig.jwt_issuer: expected a string, got boolean",
		`{"issuer": "a", "jwt_issuer": "b"}`: "pluginConfig.jwt_issuer: give either issuer or jwt_issuer, not both",
		`{"issuer": "https://i.example", "audience": 5}`:               "pluginConfig.audience: expected a string or a list of strings, got number",
		`{"issuer": "https://i.example", "audience": ["a", 1]}`:        "pluginConfig.audience[1]: expected a string, got number",
		`{"issuer": "https://i.example", "jwks_uri": "ftp://x/y"}`:     "pluginConfig.jwks_uri: must be an http:// or https:// URL",
		`{"issuer": "not a url"}`:                                      "pluginConfig.issuer: must be an http:// or https:// URL",
		`{"issuer": "https://i.example", "jwks_uri": "https:///x"}`:    "pluginConfig.jwks_uri: has no host",
		`{"issuer": "https://i.example", "cache_ttl_seconds": "300"}`:  "pluginConfig.cache_ttl_seconds: expected an integer, got string",
		`{"issuer": "https://i.example", "cache_ttl_seconds": 1.5}`:    "pluginConfig.cache_ttl_seconds: expected an integer, got 1.5",
		`{"issuer": "https://i.example", "cache_ttl_seconds": -1}`:     "pluginConfig.cache_ttl_seconds: must be between 0 and",
		`{"issuer": "https://i.example", "allowed_paths": "/health"}`:  "pluginConfig.allowed_paths: expected a list of strings, got string",
		`{"issuer": "https://i.example", "allowed_paths": ["health"]}`: "pluginConfig.allowed_paths[0]: must start with '/'",
		`{"issuer": "https://i.example", "jwks_cluster": 1}`:           "pluginConfig.jwks_cluster: expected a string, got number",
		`{"issuer": "https://i.example", "realm": "a\"b"}`:             "pluginConfig.realm: must not contain quotes",
	}
	for js, want := range cases {
		_, err := parseConfig([]byte(js))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("parseConfig(%s) = %v, want prefix %q", js, err, want)
		}
	}
}

func TestConfigUnknownKeysAreReported(t *testing.T) {
	c := testConfig(t, `{"issuer": "https://i.example", "colour": "blue", "cache_ttl": 5}`)
	if strings.Join(c.unknownKeys, ",") != "cache_ttl,colour" {
		t.Errorf("unknown keys %v", c.unknownKeys)
	}
}
