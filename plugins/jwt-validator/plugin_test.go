//go:build !wasm

package main

// Request-flow tests run natively under the Go SDK's host emulator
// (proxywasm/proxytest, an Envoy stand-in shipped with the SDK). The same
// plugin compiled to wasm is exercised end to end by wasmplugin's own tests.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"wasmplugin.test/plugins/go-common/plugintest"
)

const pluginConfigJSON = `{
	"jwks_uri": "https://auth.example.com/.well-known/jwks.json",
	"issuer": "https://auth.example.com",
	"audience": "api.example.com",
	"allowed_paths": ["/health", "/public/*"]
}`

type harness struct {
	t    *testing.T
	host proxytest.HostEmulator
	now  int64
}

func start(t *testing.T, cfg string) *harness {
	t.Helper()
	testKeys(t)
	h := &harness{t: t, now: testNow}
	h.host = plugintest.Start(t, &vmContext{now: func() time.Time { return time.Unix(h.now, 0) }}, cfg)
	return h
}

func (h *harness) request(path, auth string, extra ...[2]string) (uint32, types.Action) {
	id := h.host.InitializeHttpContext()
	hdrs := [][2]string{{":method", "GET"}, {":path", path}, {":authority", "api.local"}}
	if auth != "" {
		hdrs = append(hdrs, [2]string{"authorization", auth})
	}
	hdrs = append(hdrs, extra...)
	return id, h.host.CallOnRequestHeaders(id, hdrs, true)
}

func (h *harness) callouts(ctx uint32) []proxytest.HttpCalloutAttribute {
	return h.host.GetCalloutAttributesFromContext(ctx)
}

func (h *harness) answer(c proxytest.HttpCalloutAttribute, status string, body []byte) {
	var headers [][2]string
	if status != "" {
		headers = [][2]string{{":status", status}, {"content-type", "application/json"}}
	}
	h.host.CallOnHttpCallResponse(c.CalloutID, headers, nil, body)
}

func header(hs [][2]string, name string) (string, bool) {
	for _, kv := range hs {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

func (h *harness) wantReply(ctx uint32, status uint32, descPart string) *proxytest.LocalHttpResponse {
	h.t.Helper()
	r := h.host.GetSentLocalResponse(ctx)
	if r == nil {
		h.t.Fatalf("context %d: no local reply, want %d", ctx, status)
	}
	if r.StatusCode != status || !strings.Contains(string(r.Data), descPart) {
		h.t.Fatalf("context %d: reply %d %q, want %d containing %q", ctx, r.StatusCode, r.Data, status, descPart)
	}
	return r
}

func bearer(tok string) string { return "Bearer " + tok }

func TestPluginFailsOnBadConfig(t *testing.T) {
	logs := plugintest.StartFails(t, &vmContext{}, `{"issuer": 7}`)
	if !strings.Contains(logs, "invalid configuration: pluginConfig.issuer: expected a string, got number") {
		t.Fatalf("error logs: %s", logs)
	}
}

func TestPluginLogsItsConfiguration(t *testing.T) {
	h := start(t, pluginConfigJSON)
	logs := strings.Join(h.host.GetInfoLogs(), "\n")
	if !strings.Contains(logs, "jwt-validator: configured issuer=https://auth.example.com audience=api.example.com") ||
		!strings.Contains(logs, "jwks_cluster=outbound|443||auth.example.com") {
		t.Fatalf("info logs: %s", logs)
	}
}

func TestFirstRequestPausesFetchesJWKSAndResumes(t *testing.T) {
	h := start(t, pluginConfigJSON)
	id, action := h.request("/api/orders", bearer(rsaA.mint(claims(nil), nil)), [2]string{"x-jwt-sub", "spoofed"})
	if action != types.ActionPause {
		t.Fatalf("first request: %v, want pause while the JWKS is fetched", action)
	}
	cs := h.callouts(id)
	if len(cs) != 1 {
		t.Fatalf("callouts %v", cs)
	}
	c := cs[0]
	if c.Upstream != "outbound|443||auth.example.com" {
		t.Errorf("cluster %q", c.Upstream)
	}
	for name, want := range map[string]string{":method": "GET", ":path": "/.well-known/jwks.json", ":authority": "auth.example.com"} {
		if got, _ := header(c.Headers, name); got != want {
			t.Errorf("callout %s = %q, want %q", name, got, want)
		}
	}
	h.answer(c, "200", jwksJSON(rsaA.jwk(), ecA.jwk()))
	if a := h.host.GetCurrentHttpStreamAction(id); a != types.ActionContinue {
		t.Fatalf("after the JWKS arrived: %v, want continue", a)
	}
	req := h.host.GetCurrentRequestHeaders(id)
	if sub, _ := header(req, "x-jwt-sub"); sub != "alice" {
		t.Errorf("x-jwt-sub = %q", sub)
	}
	if sc, _ := header(req, "x-jwt-scopes"); sc != "read write" {
		t.Errorf("x-jwt-scopes = %q", sc)
	}

	// Cached: the next request is decided at once, with no new fetch.
	id2, action := h.request("/api/orders", bearer(ecA.mint(claims(map[string]any{"sub": "bob", "scope": nil}), nil)))
	if action != types.ActionContinue || len(h.callouts(id2)) != 0 {
		t.Fatalf("cached request: %v, callouts %v", action, h.callouts(id2))
	}
	if sub, _ := header(h.host.GetCurrentRequestHeaders(id2), "x-jwt-sub"); sub != "bob" {
		t.Errorf("x-jwt-sub = %q", sub)
	}
	if _, ok := header(h.host.GetCurrentRequestHeaders(id2), "x-jwt-scopes"); ok {
		t.Error("x-jwt-scopes set for a token without scopes")
	}
}

func TestMissingAndInvalidTokensGet401(t *testing.T) {
	h := start(t, pluginConfigJSON)
	id, action := h.request("/api", "")
	if action != types.ActionPause {
		t.Fatalf("no token: %v", action)
	}
	r := h.wantReply(id, 401, `"error_description":"missing bearer token"`)
	want := `Bearer realm="wasmplugin", error="invalid_token", error_description="missing bearer token"`
	if got, _ := header(r.Headers, "www-authenticate"); got != want {
		t.Errorf("www-authenticate = %q, want %q", got, want)
	}
	if ct, _ := header(r.Headers, "content-type"); ct != "application/json" {
		t.Errorf("content-type = %q", ct)
	}
	var body map[string]string
	if err := json.Unmarshal(r.Data, &body); err != nil || body["error"] != "invalid_token" {
		t.Errorf("body %q: %v", r.Data, err)
	}

	id, _ = h.request("/api", "Basic dXNlcjpwdw==")
	h.wantReply(id, 401, "not a Bearer token")

	// Load the keys, then an expired token is refused without another fetch.
	id, _ = h.request("/api", bearer(rsaA.mint(claims(nil), nil)))
	h.answer(h.callouts(id)[0], "200", jwksJSON(rsaA.jwk()))
	id, action = h.request("/api", bearer(rsaA.mint(claims(map[string]any{"exp": testNow - 3600}), nil)))
	if action != types.ActionPause || len(h.callouts(id)) != 0 {
		t.Fatalf("expired: %v, callouts %v", action, h.callouts(id))
	}
	r = h.wantReply(id, 401, "token expired")
	if got, _ := header(r.Headers, "www-authenticate"); !strings.Contains(got, `error_description="token expired"`) {
		t.Errorf("www-authenticate = %q", got)
	}
}

func TestAllowedPathsPassWithoutTokenAndDropSpoofedIdentity(t *testing.T) {
	h := start(t, pluginConfigJSON)
	for _, p := range []string{"/health", "/health?x=1", "/public/docs"} {
		id, action := h.request(p, "", [2]string{"x-jwt-sub", "root"}, [2]string{"x-jwt-scopes", "admin"})
		if action != types.ActionContinue || h.host.GetSentLocalResponse(id) != nil || len(h.callouts(id)) != 0 {
			t.Fatalf("%s: action %v", p, action)
		}
		req := h.host.GetCurrentRequestHeaders(id)
		if _, ok := header(req, "x-jwt-sub"); ok {
			t.Errorf("%s: client-supplied x-jwt-sub survived", p)
		}
		if _, ok := header(req, "x-jwt-scopes"); ok {
			t.Errorf("%s: client-supplied x-jwt-scopes survived", p)
		}
	}
	id, _ := h.request("/healthz", "")
	h.wantReply(id, 401, "missing bearer token")
}

func TestConcurrentRequestsShareOneFetch(t *testing.T) {
	h := start(t, pluginConfigJSON)
	a, actA := h.request("/a", bearer(rsaA.mint(claims(nil), nil)))
	b, actB := h.request("/b", bearer(rsaA.mint(claims(map[string]any{"iss": "https://other"}), nil)))
	if actA != types.ActionPause || actB != types.ActionPause {
		t.Fatalf("actions %v %v", actA, actB)
	}
	if len(h.callouts(a)) != 1 || len(h.callouts(b)) != 0 {
		t.Fatalf("callouts a=%v b=%v", h.callouts(a), h.callouts(b))
	}
	h.answer(h.callouts(a)[0], "200", jwksJSON(rsaA.jwk()))
	if h.host.GetCurrentHttpStreamAction(a) != types.ActionContinue || h.host.GetSentLocalResponse(a) != nil {
		t.Error("a: want resumed")
	}
	h.wantReply(b, 401, "issuer mismatch")
}

func TestJWKSServiceFailuresAnswer503(t *testing.T) {
	for name, tc := range map[string]struct {
		status string
		body   string
		log    string
	}{
		"http 500": {"500", "oops", "HTTP status 500"},
		"timeout":  {"504", "upstream request timeout", "HTTP status 504"}, // Envoy answers a timed-out call with a local 504
		"reset":    {"", "", "no response (connection reset)"},
		"garbage":  {"200", "<html>", "JWKS is not valid JSON"},
		"no keys":  {"200", `{"keys": []}`, "no usable RS256 or ES256 key"},
	} {
		t.Run(name, func(t *testing.T) {
			h := start(t, pluginConfigJSON)
			a, _ := h.request("/a", bearer(rsaA.mint(claims(nil), nil)))
			b, _ := h.request("/b", bearer(rsaA.mint(claims(nil), nil)))
			h.answer(h.callouts(a)[0], tc.status, []byte(tc.body))
			for _, id := range []uint32{a, b} {
				r := h.wantReply(id, 503, `"error_description":"jwks unavailable"`)
				if _, ok := header(r.Headers, "www-authenticate"); ok {
					t.Error("503 carries a www-authenticate challenge")
				}
			}
			if logs := strings.Join(h.host.GetWarnLogs(), "\n"); !strings.Contains(logs, tc.log) {
				t.Errorf("warn logs lack %q: %s", tc.log, logs)
			}
			// The next request tries again (no negative caching).
			c, action := h.request("/c", bearer(rsaA.mint(claims(nil), nil)))
			if action != types.ActionPause || len(h.callouts(c)) != 1 {
				t.Fatalf("retry: %v %v", action, h.callouts(c))
			}
		})
	}
}

func TestStaleKeysServeWhenRefreshFails(t *testing.T) {
	h := start(t, pluginConfigJSON)
	id, _ := h.request("/a", bearer(rsaA.mint(claims(nil), nil)))
	h.answer(h.callouts(id)[0], "200", jwksJSON(rsaA.jwk()))

	h.now += 301 // past jwks cache TTL (300 s)
	id, action := h.request("/a", bearer(rsaA.mint(claims(map[string]any{"exp": h.now + 600}), nil)))
	if action != types.ActionPause || len(h.callouts(id)) != 1 {
		t.Fatalf("stale cache: %v, callouts %v", action, h.callouts(id))
	}
	h.answer(h.callouts(id)[0], "503", nil)
	if h.host.GetCurrentHttpStreamAction(id) != types.ActionContinue || h.host.GetSentLocalResponse(id) != nil {
		t.Fatal("want the request accepted with the previous keys")
	}
	if logs := strings.Join(h.host.GetWarnLogs(), "\n"); !strings.Contains(logs, "using the previous keys") {
		t.Errorf("warn logs: %s", logs)
	}
}

func TestUnknownKidRefetchesForKeyRotation(t *testing.T) {
	h := start(t, pluginConfigJSON)
	id, _ := h.request("/a", bearer(rsaA.mint(claims(nil), nil)))
	h.answer(h.callouts(id)[0], "200", jwksJSON(rsaA.jwk()))

	// Within 30 s of the last fetch an unknown kid is simply refused.
	id, _ = h.request("/a", bearer(rsaB.mint(claims(nil), nil)))
	h.wantReply(id, 401, "no key in the JWKS matches")
	if len(h.callouts(id)) != 0 {
		t.Fatal("refetched too soon")
	}
	h.now += 31
	id, action := h.request("/a", bearer(rsaB.mint(claims(nil), nil)))
	if action != types.ActionPause || len(h.callouts(id)) != 1 {
		t.Fatalf("rotation: %v %v", action, h.callouts(id))
	}
	h.answer(h.callouts(id)[0], "200", jwksJSON(rsaA.jwk(), rsaB.jwk()))
	if h.host.GetCurrentHttpStreamAction(id) != types.ActionContinue {
		t.Fatal("want resumed after the rotated JWKS arrived")
	}
}

func TestFetchIsRedispatchedWhenItsCallerGoesAway(t *testing.T) {
	h := start(t, pluginConfigJSON)
	a, _ := h.request("/a", bearer(rsaA.mint(claims(nil), nil)))
	b, _ := h.request("/b", bearer(rsaA.mint(claims(nil), nil)))
	h.host.CompleteHttpContext(a) // client of a disconnects; the SDK will drop a's callout response
	if p := h.host.GetTickPeriod(); p != 1 {
		t.Fatalf("tick period %d, want 1 ms to re-dispatch from the root", p)
	}
	h.host.Tick()
	root := h.callouts(proxytest.PluginContextID)
	if len(root) != 1 || h.host.GetTickPeriod() != 0 {
		t.Fatalf("root callouts %v, tick %d", root, h.host.GetTickPeriod())
	}
	h.answer(root[0], "200", jwksJSON(rsaA.jwk()))
	if h.host.GetCurrentHttpStreamAction(b) != types.ActionContinue {
		t.Fatal("b: want resumed")
	}
}
