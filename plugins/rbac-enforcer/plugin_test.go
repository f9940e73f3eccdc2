//go:build !wasm

package main

// Request-flow tests run natively under the Go SDK's host emulator
// (proxywasm/proxytest, an Envoy stand-in shipped with the SDK).

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"wasmplugin.test/plugins/go-common/plugintest"
)

const blogConfig = `{"policy_endpoint": "http://policy-service.default.svc:8080", "cache_enabled": true, "cache_ttl": 60}`

type harness struct {
	t    *testing.T
	host proxytest.HostEmulator
	now  int64
}

func start(t *testing.T, cfg string) *harness {
	t.Helper()
	h := &harness{t: t, now: 1_800_000_000}
	h.host = plugintest.Start(t, &vmContext{now: func() time.Time { return time.Unix(h.now, 0) }}, cfg)
	return h
}

func (h *harness) request(method, path, sub string) (uint32, types.Action) {
	id := h.host.InitializeHttpContext()
	hdrs := [][2]string{{":method", method}, {":path", path}, {":authority", "api.local"}}
	if sub != "" {
		hdrs = append(hdrs, [2]string{"x-jwt-sub", sub}, [2]string{"x-jwt-scopes", "orders:read"})
	}
	return id, h.host.CallOnRequestHeaders(id, hdrs, true)
}

func (h *harness) answer(ctx uint32, status, body string) {
	h.t.Helper()
	cs := h.host.GetCalloutAttributesFromContext(ctx)
	if len(cs) != 1 {
		h.t.Fatalf("context %d: callouts %v", ctx, cs)
	}
	var headers [][2]string
	if status != "" {
		headers = [][2]string{{":status", status}}
	}
	h.host.CallOnHttpCallResponse(cs[0].CalloutID, headers, nil, []byte(body))
}

func (h *harness) wantDenied(ctx uint32, reason string) {
	h.t.Helper()
	r := h.host.GetSentLocalResponse(ctx)
	if r == nil || r.StatusCode != 403 {
		h.t.Fatalf("context %d: reply %+v, want 403", ctx, r)
	}
	var body map[string]string
	if err := json.Unmarshal(r.Data, &body); err != nil || body["error"] != "access_denied" || body["reason"] != reason {
		h.t.Fatalf("403 body %q (%v), want reason %q", r.Data, err, reason)
	}
}

var get = plugintest.Header

func TestAsksThePolicyServiceAndAllows(t *testing.T) {
	h := start(t, blogConfig)
	id, action := h.request("GET", "/api/orders?page=2", "alice")
	if action != types.ActionPause {
		t.Fatalf("action %v, want pause while the policy answers", action)
	}
	c := h.host.GetCalloutAttributesFromContext(id)[0]
	if c.Upstream != "outbound|8080||policy-service.default.svc" {
		t.Errorf("cluster %q", c.Upstream)
	}
	if get(c.Headers, ":method") != "POST" || get(c.Headers, ":path") != "/" ||
		get(c.Headers, ":authority") != "policy-service.default.svc:8080" || get(c.Headers, "content-type") != "application/json" {
		t.Errorf("callout headers %v", c.Headers)
	}
	if string(c.Body) != `{"subject":"alice","method":"GET","path":"/api/orders","scopes":["orders:read"]}` {
		t.Errorf("callout body %s", c.Body)
	}
	h.answer(id, "200", `{"allow": true}`)
	if h.host.GetCurrentHttpStreamAction(id) != types.ActionContinue || h.host.GetSentLocalResponse(id) != nil {
		t.Fatal("want resumed")
	}
}

func TestDeniesWith403AndTheReason(t *testing.T) {
	h := start(t, blogConfig)
	id, _ := h.request("DELETE", "/api/orders/7", "bob")
	h.answer(id, "200", `{"allow": false, "reason": "bob may not delete orders"}`)
	h.wantDenied(id, "bob may not delete orders")
	id, _ = h.request("DELETE", "/api/orders/8", "bob")
	h.answer(id, "200", `{"allow": false}`)
	h.wantDenied(id, "denied by policy")
}

func TestCachesDecisionsForCacheTTL(t *testing.T) {
	h := start(t, blogConfig)
	id, _ := h.request("GET", "/api/orders", "alice")
	h.answer(id, "200", `{"allow": true}`)
	id, _ = h.request("DELETE", "/api/orders", "alice")
	h.answer(id, "200", `{"allow": false}`)

	h.now += 59
	id, action := h.request("GET", "/api/orders?x=1", "alice")
	if action != types.ActionContinue || len(h.host.GetCalloutAttributesFromContext(id)) != 0 {
		t.Fatalf("cached allow: %v", action)
	}
	id, action = h.request("DELETE", "/api/orders", "alice")
	if action != types.ActionPause || len(h.host.GetCalloutAttributesFromContext(id)) != 0 {
		t.Fatalf("cached deny: %v", action)
	}
	h.wantDenied(id, "denied by policy")
	// Another subject is a different question.
	id, _ = h.request("GET", "/api/orders", "carol")
	if len(h.host.GetCalloutAttributesFromContext(id)) != 1 {
		t.Fatal("carol must be asked about")
	}
	h.now += 1 // 60 s after the answers: expired
	id, _ = h.request("GET", "/api/orders", "alice")
	if len(h.host.GetCalloutAttributesFromContext(id)) != 1 {
		t.Fatal("expired entry must be asked again")
	}
}

func TestNoCachingUnlessEnabled(t *testing.T) {
	h := start(t, `{"policy_endpoint": "http://policy-service.default.svc:8080"}`)
	for i := 0; i < 2; i++ {
		id, _ := h.request("GET", "/api/orders", "alice")
		if len(h.host.GetCalloutAttributesFromContext(id)) != 1 {
			t.Fatalf("request %d: no policy call", i)
		}
		h.answer(id, "200", `{"allow": true}`)
	}
}

func TestFailsClosedWhenThePolicyServiceFails(t *testing.T) {
	for name, tc := range map[string]struct{ status, body, log string }{
		"reset":      {"", "", "no response (connection reset)"},
		"http 503":   {"503", "upstream connect error", "HTTP status 503"},
		"timeout":    {"504", "upstream request timeout", "HTTP status 504"}, // Envoy answers a timed-out call with a local 504
		"bad answer": {"200", `{"permit": true}`, `no boolean "allow"`},
	} {
		t.Run(name, func(t *testing.T) {
			h := start(t, blogConfig)
			id, _ := h.request("GET", "/api/orders", "alice")
			h.answer(id, tc.status, tc.body)
			h.wantDenied(id, "policy service unavailable")
			if logs := strings.Join(h.host.GetWarnLogs(), "\n"); !strings.Contains(logs, tc.log) || !strings.Contains(logs, "denying (fail closed)") {
				t.Errorf("warn logs: %s", logs)
			}
			// Failures are not cached.
			id, _ = h.request("GET", "/api/orders", "alice")
			if len(h.host.GetCalloutAttributesFromContext(id)) != 1 {
				t.Fatal("a failure must not be cached")
			}
		})
	}
}

func TestAnonymousRequestsAreAskedAboutToo(t *testing.T) {
	h := start(t, blogConfig)
	id, _ := h.request("GET", "/health", "")
	c := h.host.GetCalloutAttributesFromContext(id)[0]
	if string(c.Body) != `{"subject":"","method":"GET","path":"/health","scopes":[]}` {
		t.Errorf("body %s", c.Body)
	}
}

func TestBadConfigFailsToStart(t *testing.T) {
	cfg := `{"policy_endpoint": "http://p", "cache_ttl": "1m"}`
	if logs := plugintest.StartFails(t, &vmContext{}, cfg); !strings.Contains(logs, "rbac-enforcer: invalid configuration: pluginConfig.cache_ttl: expected an integer, got string") {
		t.Fatalf("error logs: %s", logs)
	}
}

func TestLogsItsConfiguration(t *testing.T) {
	h := start(t, blogConfig)
	want := "rbac-enforcer: configured policy_endpoint=http://policy-service.default.svc:8080 policy_cluster=outbound|8080||policy-service.default.svc cache=60s subject_header=x-jwt-sub"
	if logs := strings.Join(h.host.GetInfoLogs(), "\n"); !strings.Contains(logs, want) {
		t.Fatalf("info logs: %s", logs)
	}
}
