package upstream

import (
	"strings"
	"testing"
)

func TestClusterAuthorityAndPath(t *testing.T) {
	cases := []struct{ uri, override, cluster, authority, path string }{
		{"http://jwks.default.svc:8080/keys?v=2", "", "outbound|8080||jwks.default.svc", "jwks.default.svc:8080", "/keys?v=2"},
		{"http://Keys.Example.com", "", "outbound|80||keys.example.com", "Keys.Example.com", "/"},
		{"HTTPS://auth.example.com/.well-known/jwks.json", "", "outbound|443||auth.example.com", "auth.example.com", "/.well-known/jwks.json"},
		{"https://127.0.0.1:9443/jwks", "", "outbound|9443||127.0.0.1", "127.0.0.1:9443", "/jwks"},
		{"http://[::1]:8080/p", "", "outbound|8080||::1", "[::1]:8080", "/p"},
		{"https://auth.example.com/jwks", "jwks-upstream", "jwks-upstream", "auth.example.com", "/jwks"},
	}
	for _, tc := range cases {
		u, err := Parse("jwks_uri", tc.uri, tc.override)
		if err != nil {
			t.Fatalf("%s: %v", tc.uri, err)
		}
		if u.URI != tc.uri || u.Cluster != tc.cluster || u.Authority != tc.authority || u.Path != tc.path {
			t.Errorf("%s: got %+v", tc.uri, u)
		}
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	for uri, want := range map[string]string{
		"ftp://files.example.com/x":     `pluginConfig.policy_endpoint: must be an http:// or https:// URL, got "ftp://files.example.com/x"`,
		"policy-service:8080":           "pluginConfig.policy_endpoint: must be an http:// or https:// URL",
		"http://user:pw@example.com/":   "pluginConfig.policy_endpoint: must not contain user information",
		"http:///nohost":                "pluginConfig.policy_endpoint: has no host",
		"http://bad host.example.com/x": "pluginConfig.policy_endpoint: not a valid URL",
	} {
		_, err := Parse("policy_endpoint", uri, "")
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want prefix %q", uri, err, want)
		}
	}
}
