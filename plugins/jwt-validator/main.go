// jwt-validator: an AUTHN-phase proxy-wasm plugin that verifies RS256/ES256
// bearer tokens against a JWKS fetched with http_call, and passes the token's
// subject and scopes on as request headers. See docs/plugins/jwt-validator.md.
package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"wasmplugin.test/plugins/go-common/pluginkit"
)

const (
	headerSubject = "x-jwt-sub"
	headerScopes  = "x-jwt-scopes"
	// A token whose kid is missing from the cache triggers a refetch (key
	// rotation), at most once per this many seconds.
	kidRefetchSeconds = 30
	maxJWKSBytes      = 1 << 20
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct {
	types.DefaultVMContext
	now func() time.Time // nil: the host's wall clock (tests set their own)
}

func (v *vmContext) NewPluginContext(contextID uint32) types.PluginContext {
	return &pluginContext{id: contextID, waiting: map[uint32]*httpContext{}, now: pluginkit.Clock(v.now)}
}

// pluginContext owns the configuration, the JWKS cache and the one fetch in
// flight; requests that need keys wait in `waiting` until the fetch ends.
type pluginContext struct {
	types.DefaultPluginContext
	id  uint32
	cfg *config
	now func() time.Time

	keys        *keySet // last good key set, possibly stale
	fetchedAt   int64   // Unix seconds of the last successful fetch
	fetching    bool
	fetchCaller uint32 // context that dispatched the fetch in flight
	waiting     map[uint32]*httpContext
}

func (p *pluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	cfg, ok := pluginkit.Configure("jwt-validator", size, parseConfig)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	p.cfg = cfg
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	return &httpContext{id: contextID, p: p}
}

func (p *pluginContext) fresh(now int64) bool {
	return p.keys != nil && now < p.fetchedAt+p.cfg.jwksTTLSeconds
}

// check decides one request. With mayFetch, a missing or stale key set (or an
// unknown kid) parks the request and starts a fetch; without it, the keys at
// hand decide, stale or not. Runs with h's context effective.
func (p *pluginContext) check(h *httpContext, now int64, mayFetch bool) types.Action {
	if mayFetch && !p.fresh(now) {
		return p.wait(h, now)
	}
	if p.keys == nil {
		h.unavailable()
		return types.ActionPause
	}
	id, err := verifyToken(h.token, p.keys, p.cfg, now)
	if err == errUnknownKid && mayFetch && now-p.fetchedAt >= kidRefetchSeconds {
		return p.wait(h, now)
	}
	if err != nil {
		h.unauthorized(err.Error())
		return types.ActionPause
	}
	h.accept(id)
	return types.ActionContinue
}

func (p *pluginContext) wait(h *httpContext, now int64) types.Action {
	p.waiting[h.id] = h
	if p.fetching {
		return types.ActionPause
	}
	if err := p.dispatch(h.id); err != nil {
		delete(p.waiting, h.id)
		return p.check(h, now, false)
	}
	return types.ActionPause
}

// dispatch starts the JWKS fetch from the current context (caller).
func (p *pluginContext) dispatch(caller uint32) error {
	j := p.cfg.jwks
	headers := [][2]string{
		{":method", "GET"}, {":path", j.Path}, {":authority", j.Authority}, {"accept", "application/json"},
	}
	_, err := proxywasm.DispatchHttpCall(j.Cluster, headers, nil, nil, p.cfg.jwksTimeoutMS, p.onJWKS)
	if err != nil {
		proxywasm.LogErrorf("jwt-validator: cannot fetch the JWKS from cluster %q (%v); define it with a ServiceEntry or set jwks_cluster", j.Cluster, err)
		return err
	}
	proxywasm.LogInfof("jwt-validator: fetching JWKS %s through cluster %q", j.URI, j.Cluster)
	p.fetching, p.fetchCaller = true, caller
	return nil
}

// onJWKS ends the fetch, then settles every waiting request with the new keys,
// or with the stale ones (or 503) when the fetch failed.
func (p *pluginContext) onJWKS(numHeaders, bodySize, _ int) {
	p.fetching = false
	now := p.now().Unix()
	if ks, err := p.readJWKS(numHeaders, bodySize); err != nil {
		stale := ""
		if p.keys != nil {
			stale = "; using the previous keys"
		}
		proxywasm.LogWarnf("jwt-validator: JWKS fetch from %s failed: %v%s", p.cfg.jwks.URI, err, stale)
	} else {
		p.keys, p.fetchedAt = ks, now
		proxywasm.LogInfof("jwt-validator: JWKS loaded, %d keys, cached for %ds", len(ks.keys), p.cfg.jwksTTLSeconds)
	}
	p.settle(now)
}

func (p *pluginContext) settle(now int64) {
	waiting := p.waiting
	p.waiting = map[uint32]*httpContext{}
	for id, h := range waiting {
		if proxywasm.SetEffectiveContext(id) != nil {
			continue // the stream is gone
		}
		if p.check(h, now, false) == types.ActionContinue {
			if err := proxywasm.ResumeHttpRequest(); err != nil {
				proxywasm.LogWarnf("jwt-validator: cannot resume request %d: %v", id, err)
			}
		}
	}
}

func (p *pluginContext) readJWKS(numHeaders, bodySize int) (*keySet, error) {
	status, err := pluginkit.CallStatus(numHeaders)
	if err != nil {
		return nil, err
	}
	if status != "200" {
		return nil, fmt.Errorf("HTTP status %s", status)
	}
	if bodySize > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	var body []byte
	if bodySize > 0 {
		b, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
		if err != nil {
			return nil, fmt.Errorf("cannot read the response body: %v", err)
		}
		body = b
	}
	ks, skipped, err := parseJWKS(body)
	for _, s := range skipped {
		proxywasm.LogWarnf("jwt-validator: JWKS %s", s)
	}
	return ks, err
}

// OnTick re-dispatches a fetch whose caller went away: the SDK drops an
// http_call response whose calling stream was deleted, so the requests still
// waiting would never hear back. A fetch dispatched here belongs to the root.
func (p *pluginContext) OnTick() {
	_ = proxywasm.SetTickPeriodMilliSeconds(0)
	if p.fetching || len(p.waiting) == 0 {
		return
	}
	if err := p.dispatch(p.id); err != nil {
		p.settle(p.now().Unix())
	}
}

func (p *pluginContext) streamDone(h *httpContext) {
	delete(p.waiting, h.id)
	if p.fetching && p.fetchCaller == h.id {
		p.fetching = false
		if len(p.waiting) > 0 {
			_ = proxywasm.SetTickPeriodMilliSeconds(1)
		}
	}
}

type httpContext struct {
	types.DefaultHttpContext
	id    uint32
	p     *pluginContext
	token string
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	// Identity headers come from this plugin only, never from the client.
	_ = proxywasm.RemoveHttpRequestHeader(headerSubject)
	_ = proxywasm.RemoveHttpRequestHeader(headerScopes)

	path, _ := proxywasm.GetHttpRequestHeader(":path")
	if h.p.cfg.allowed(path) {
		proxywasm.LogDebugf("jwt-validator: %s is in allowed_paths, no token needed", path)
		return types.ActionContinue
	}
	auth, _ := proxywasm.GetHttpRequestHeader("authorization")
	token, err := bearerToken(auth)
	if err != nil {
		h.unauthorized(err.Error())
		return types.ActionPause
	}
	h.token = token
	return h.p.check(h, h.p.now().Unix(), true)
}

func (h *httpContext) OnHttpStreamDone() { h.p.streamDone(h) }

func (h *httpContext) accept(id *identity) {
	if id.subject != "" {
		_ = proxywasm.ReplaceHttpRequestHeader(headerSubject, id.subject)
	}
	if len(id.scopes) > 0 {
		_ = proxywasm.ReplaceHttpRequestHeader(headerScopes, strings.Join(id.scopes, " "))
	}
	proxywasm.LogDebugf("jwt-validator: token accepted, sub=%q", id.subject)
}

func (h *httpContext) unauthorized(desc string) {
	proxywasm.LogDebugf("jwt-validator: request rejected: %s", desc)
	challenge := fmt.Sprintf(`Bearer realm="%s", error="invalid_token", error_description="%s"`, h.p.cfg.realm, desc)
	body, _ := json.Marshal(map[string]string{"error": "invalid_token", "error_description": desc})
	h.reply(401, body, [2]string{"www-authenticate", challenge})
}

func (h *httpContext) unavailable() {
	desc := "jwks unavailable"
	body, _ := json.Marshal(map[string]string{"error": "jwks_unavailable", "error_description": desc})
	h.reply(503, body)
}

func (h *httpContext) reply(status uint32, body []byte, extra ...[2]string) {
	headers := append([][2]string{{"content-type", "application/json"}}, extra...)
	if err := proxywasm.SendHttpResponse(status, headers, append(body, '\n'), -1); err != nil {
		proxywasm.LogErrorf("jwt-validator: cannot send the %d reply: %v", status, err)
	}
}
