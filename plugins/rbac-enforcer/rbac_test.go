package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestConfigBlogExample(t *testing.T) {
	c, err := parseConfig([]byte(`{"policy_endpoint": "http://policy-service.default.svc:8080", "cache_enabled": true, "cache_ttl": 60}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.policy.Cluster != "outbound|8080||policy-service.default.svc" || c.policy.Path != "/" ||
		c.policy.Authority != "policy-service.default.svc:8080" {
		t.Errorf("policy upstream %+v", c.policy)
	}
	if !c.cacheEnabled || c.cacheTTL != 60 || c.timeoutMS != 5000 || c.subjectHeader != "x-jwt-sub" || c.scopesHeader != "x-jwt-scopes" {
		t.Errorf("config %+v", c)
	}
}

func TestConfigDefaultsAndOverrides(t *testing.T) {
	c, err := parseConfig([]byte(`{"policy_endpoint": "https://opa.example.com/v1/check", "policy_cluster": "opa",
		"subject_header": "X-User", "policy_timeout_ms": 250}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.cacheEnabled || c.cacheTTL != 60 || c.policy.Cluster != "opa" || c.policy.Path != "/v1/check" ||
		c.subjectHeader != "x-user" || c.timeoutMS != 250 {
		t.Errorf("config %+v", c)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for js, want := range map[string]string{
		``:                                 "pluginConfig.policy_endpoint: required",
		`{"cache_enabled": true}`:          "pluginConfig.policy_endpoint: required",
		`{"policy_endpoint": 8080}`:        "pluginConfig.policy_endpoint: expected a string, got number",
		`{"policy_endpoint": "policy:80"}`: "pluginConfig.policy_endpoint: must be an http:// or https:// URL",
		`{"policy_endpoint": "http://p", "cache_enabled": "yes"}`: "pluginConfig.cache_enabled: expected true or false, got string",
		`{"policy_endpoint": "http://p", "cache_ttl": "60"}`:      "pluginConfig.cache_ttl: expected an integer, got string",
		`{"policy_endpoint": "http://p", "cache_ttl": -5}`:        "pluginConfig.cache_ttl: must be between 0 and",
		`{"policy_endpoint": "http://p", "subject_header": ""}`:   "pluginConfig.subject_header: must be a header name",
		`{"policy_endpoint": "http://p", "policy_cluster": []}`:   "pluginConfig.policy_cluster: expected a string, got array",
		`{"policy_endpoint": "http://p"`:                          "pluginConfig: invalid JSON",
		`"x"`:                                                     "pluginConfig: must be a JSON object, got string",
	} {
		_, err := parseConfig([]byte(js))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("parseConfig(%s) = %v, want prefix %q", js, err, want)
		}
	}
}

func TestQuestionJSON(t *testing.T) {
	q := newQuestion("alice", "DELETE", "/api/orders/7?force=1", "read  write")
	var got map[string]any
	if err := json.Unmarshal(q.body(), &got); err != nil {
		t.Fatal(err)
	}
	if got["subject"] != "alice" || got["method"] != "DELETE" || got["path"] != "/api/orders/7" {
		t.Errorf("question %v", got)
	}
	if sc, _ := json.Marshal(got["scopes"]); string(sc) != `["read","write"]` {
		t.Errorf("scopes %s", sc)
	}
	anon := newQuestion("", "GET", "/", "")
	if string(anon.body()) != `{"subject":"","method":"GET","path":"/","scopes":[]}` {
		t.Errorf("anonymous question %s", anon.body())
	}
	if q.key() == newQuestion("alice", "DELETE", "/api/orders/7", "read").key() {
		t.Error("scopes must be part of the cache key")
	}
}

func TestParseDecision(t *testing.T) {
	d, err := parseDecision("200", []byte(`{"allow": true}`))
	if err != nil || !d.allow {
		t.Errorf("allow: %+v %v", d, err)
	}
	d, err = parseDecision("200", []byte(`{"allow": false, "reason": "orders:delete needs role admin\n"}`))
	if err != nil || d.allow || d.reason != "orders:delete needs role admin" {
		t.Errorf("deny: %+v %v", d, err)
	}
	for _, tc := range []struct{ status, body, want string }{
		{"500", `{"allow": true}`, "HTTP status 500"},
		{"200", `allow`, "not the expected JSON object"},
		{"200", `{"allowed": true}`, `no boolean "allow"`},
		{"200", `{"allow": "true"}`, "not the expected JSON object"},
		{"200", ``, "not the expected JSON object"},
	} {
		if _, err := parseDecision(tc.status, []byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseDecision(%s, %s) = %v, want %q", tc.status, tc.body, err, tc.want)
		}
	}
}

func TestDecisionCache(t *testing.T) {
	c := newDecisionCache(60, 2)
	c.put("a", decision{allow: true}, 1000)
	if d, ok := c.get("a", 1059); !ok || !d.allow {
		t.Error("entry must live 60 s")
	}
	if _, ok := c.get("a", 1060); ok {
		t.Error("entry must expire at 60 s")
	}
	c.put("b", decision{}, 1000)
	c.put("c", decision{}, 1000)
	c.put("d", decision{}, 1100) // full: b and c are expired and swept
	if len(c.entries) != 1 {
		t.Errorf("after sweep: %d entries", len(c.entries))
	}
	c.put("e", decision{}, 1100)
	c.put("f", decision{}, 1100) // full of live entries: start over
	if _, ok := c.get("f", 1100); !ok || len(c.entries) != 1 {
		t.Errorf("after reset: %d entries", len(c.entries))
	}
	zero := newDecisionCache(0, 10)
	zero.put("a", decision{allow: true}, 1)
	if _, ok := zero.get("a", 1); ok {
		t.Error("cache_ttl 0 caches nothing")
	}
}
