//go:build !wasm

package main

// Request-flow tests run natively under the Go SDK's host emulator
// (proxywasm/proxytest, an Envoy stand-in shipped with the SDK).

import (
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"wasmplugin.test/plugins/go-common/plugintest"
)

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

func (h *harness) request(path string, extra ...[2]string) (uint32, types.Action) {
	id := h.host.InitializeHttpContext()
	hdrs := append([][2]string{{":method", "GET"}, {":path", path}, {":authority", "api.local"}}, extra...)
	return id, h.host.CallOnRequestHeaders(id, hdrs, true)
}

var get = plugintest.Header

func TestBlogLimitsAndResponse(t *testing.T) {
	h := start(t, blogConfig)
	for i := 1; i <= 5; i++ {
		id, action := h.request("/api/v1/upload")
		if action != types.ActionContinue {
			t.Fatalf("upload %d: %v", i, action)
		}
		h.host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, true)
		resp := h.host.GetCurrentResponseHeaders(id)
		if get(resp, "x-ratelimit-limit") != "5" || get(resp, "x-ratelimit-remaining") != string(rune('0'+5-i)) ||
			get(resp, "x-ratelimit-reset") != "300" {
			t.Fatalf("upload %d: response headers %v", i, resp)
		}
	}
	id, action := h.request("/api/v1/upload?part=6")
	if action != types.ActionPause {
		t.Fatalf("6th upload: %v, want rejected", action)
	}
	r := h.host.GetSentLocalResponse(id)
	if r == nil || r.StatusCode != 429 || string(r.Data) != `{"error": "Rate limit exceeded"}` {
		t.Fatalf("reply %+v", r)
	}
	if get(r.Headers, "retry-after") != "60" || strings.Count(strings.ToLower(headerNames(r.Headers)), "retry-after") != 1 {
		t.Errorf("configured Retry-After must be sent as is, once: %v", r.Headers)
	}
	if get(r.Headers, "x-ratelimit-remaining") != "0" || get(r.Headers, "x-ratelimit-limit") != "5" {
		t.Errorf("reply headers %v", r.Headers)
	}
	// Other paths have their own counters.
	if _, action := h.request("/api/v1/search"); action != types.ActionContinue {
		t.Fatal("search must not be affected by upload's limit")
	}
	if _, action := h.request("/other"); action != types.ActionContinue {
		t.Fatal("default rule")
	}
	// After the 300 s window the uploads pass again.
	h.now += 300
	if _, action := h.request("/api/v1/upload"); action != types.ActionContinue {
		t.Fatal("new window must allow again")
	}
}

func headerNames(hs [][2]string) string {
	var b strings.Builder
	for _, kv := range hs {
		b.WriteString(kv[0] + " ")
	}
	return b.String()
}

func TestDefaultReplyComputesRetryAfter(t *testing.T) {
	h := start(t, `{"default_limit": 1, "default_window_seconds": 60}`)
	h.now = 1_800_000_045 // 15 s left in the window [1_800_000_000, 1_800_000_060)
	h.request("/x")
	id, action := h.request("/x")
	if action != types.ActionPause {
		t.Fatal("second request must be rejected")
	}
	r := h.host.GetSentLocalResponse(id)
	if r.StatusCode != 429 || get(r.Headers, "retry-after") != "15" || get(r.Headers, "x-ratelimit-reset") != "15" ||
		get(r.Headers, "content-type") != "application/json" || !strings.Contains(string(r.Data), "rate limit exceeded") {
		t.Errorf("reply %d %v %q", r.StatusCode, r.Headers, r.Data)
	}
}

func TestLimitByHeader(t *testing.T) {
	h := start(t, `{"default_limit": 1, "limit_by": "header:x-api-key"}`)
	if _, a := h.request("/x", [2]string{"x-api-key", "k1"}); a != types.ActionContinue {
		t.Fatal("k1 first")
	}
	if _, a := h.request("/x", [2]string{"x-api-key", "k2"}); a != types.ActionContinue {
		t.Fatal("k2 has its own counter")
	}
	if _, a := h.request("/x", [2]string{"x-api-key", "k1"}); a != types.ActionPause {
		t.Fatal("k1 second must be rejected")
	}
}

func TestBadConfigFailsAndGoodConfigIsLogged(t *testing.T) {
	cfg := `{"default_limit": 10, "path_limits": [{"path": "/a", "limit": "x"}]}`
	if logs := plugintest.StartFails(t, &vmContext{}, cfg); !strings.Contains(logs, "rate-limiter: invalid configuration: pluginConfig.path_limits[0].limit: expected an integer, got string") {
		t.Errorf("error logs: %s", logs)
	}
	h := start(t, blogConfig)
	if logs := strings.Join(h.host.GetInfoLogs(), "\n"); !strings.Contains(logs, "rate-limiter: configured limits=[default 100/60s, /api/v1/search 20/60s, /api/v1/upload 5/300s]") {
		t.Errorf("info logs: %s", logs)
	}
}
