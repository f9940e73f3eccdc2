package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

const blogConfig = `{
	"default_limit": 100,
	"default_window_seconds": 60,
	"path_limits": [
		{"path": "/api/v1/search", "limit": 20, "window_seconds": 60},
		{"path": "/api/v1/upload", "limit": 5, "window_seconds": 300}
	],
	"rate_limit_response": {
		"status_code": 429,
		"headers": {"Retry-After": "60"},
		"body": "{\"error\": \"Rate limit exceeded\"}"
	}
}`

func mustConfig(t *testing.T, js string) *config {
	t.Helper()
	c, err := parseConfig([]byte(js))
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	return c
}

func TestConfigBlogExample(t *testing.T) {
	c := mustConfig(t, blogConfig)
	if c.Summary() != "limits=[default 100/60s, /api/v1/search 20/60s, /api/v1/upload 5/300s] limit_by=global reply=429" {
		t.Errorf("summary %q", c.Summary())
	}
	if c.reply.status != 429 || string(c.reply.body) != `{"error": "Rate limit exceeded"}` ||
		len(c.reply.headers) != 1 || c.reply.headers[0] != [2]string{"retry-after", "60"} {
		t.Errorf("reply %+v", c.reply)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := mustConfig(t, `{"default_limit": 3}`)
	if c.def.limit != 3 || c.def.window != 60 || len(c.paths) != 0 || c.limitBy != "global" {
		t.Errorf("config %+v", c)
	}
	if c.reply.status != 429 || !strings.Contains(string(c.reply.body), "rate limit exceeded") {
		t.Errorf("default reply %+v", c.reply)
	}
	c = mustConfig(t, `{"default_limit": 3, "default_window_seconds": 10, "path_limits": [{"path": "/a", "limit": 1}],
		"rate_limit_response": {"headers": {"Retry-After": 10}}, "limit_by": "header:X-API-Key"}`)
	if c.paths[0].window != 10 || c.reply.status != 429 || c.reply.headers[0] != [2]string{"retry-after", "10"} ||
		c.limitBy != "header:X-API-Key" || c.limitHeader != "x-api-key" || len(c.reply.body) != 0 {
		t.Errorf("config %+v", c)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for js, want := range map[string]string{
		`{}`:                       "pluginConfig.default_limit: required",
		`{"default_limit": "100"}`: "pluginConfig.default_limit: expected an integer, got string",
		`{"default_limit": 1.5}`:   "pluginConfig.default_limit: expected an integer, got 1.5",
		`{"default_limit": -1}`:    "pluginConfig.default_limit: must be between 0 and",
		`{"default_limit": 1, "default_window_seconds": 0}`:                                        "pluginConfig.default_window_seconds: must be between 1 and",
		`{"default_limit": 1, "path_limits": {"path": "/a"}}`:                                      "pluginConfig.path_limits: expected a list",
		`{"default_limit": 1, "path_limits": ["/a"]}`:                                              "pluginConfig.path_limits[0]: expected an object, got string",
		`{"default_limit": 1, "path_limits": [{"limit": 1}]}`:                                      "pluginConfig.path_limits[0].path: required",
		`{"default_limit": 1, "path_limits": [{"path": "a", "limit": 1}]}`:                         "pluginConfig.path_limits[0].path: required, a path prefix starting with '/'",
		`{"default_limit": 1, "path_limits": [{"path": "/a"}]}`:                                    "pluginConfig.path_limits[0].limit: required",
		`{"default_limit": 1, "path_limits": [{"path": "/a", "limit": "5"}]}`:                      "pluginConfig.path_limits[0].limit: expected an integer, got string",
		`{"default_limit": 1, "path_limits": [{"path": "/a", "limit": 5, "window_seconds": -60}]}`: "pluginConfig.path_limits[0].window_seconds: must be between 1 and",
		`{"default_limit": 1, "path_limits": [{"path": "/a", "limit": 5, "window": 60}]}`:          "pluginConfig.path_limits[0].window: unknown key",
		`{"default_limit": 1, "rate_limit_response": "429"}`:                                       "pluginConfig.rate_limit_response: expected an object, got string",
		`{"default_limit": 1, "rate_limit_response": {"status_code": 42}}`:                         "pluginConfig.rate_limit_response.status_code: must be between 200 and 599",
		`{"default_limit": 1, "rate_limit_response": {"status_code": "429"}}`:                      "pluginConfig.rate_limit_response.status_code: expected an integer, got string",
		`{"default_limit": 1, "rate_limit_response": {"headers": ["Retry-After: 60"]}}`:            "pluginConfig.rate_limit_response.headers: expected an object, got array",
		`{"default_limit": 1, "rate_limit_response": {"headers": {"Retry-After": true}}}`:          "pluginConfig.rate_limit_response.headers.Retry-After: expected a string, got boolean",
		`{"default_limit": 1, "rate_limit_response": {"headers": {"Bad Name": "x"}}}`:              "pluginConfig.rate_limit_response.headers.Bad Name: not a valid header name",
		`{"default_limit": 1, "rate_limit_response": {"body": {"error": "x"}}}`:                    "pluginConfig.rate_limit_response.body: expected a string, got object",
		`{"default_limit": 1, "rate_limit_response": {"status": 429}}`:                             "pluginConfig.rate_limit_response.status: unknown key",
		`{"default_limit": 1, "limit_by": "user"}`:                                                 `pluginConfig.limit_by: must be "global", "client_ip" or "header:<name>"`,
		`{"default_limit": 1, "limit_by": "header:"}`:                                              `pluginConfig.limit_by: must be`,
		`{"default_limit": 1,}`: "pluginConfig: invalid JSON",
	} {
		_, err := parseConfig([]byte(js))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("parseConfig(%s) = %v, want prefix %q", js, err, want)
		}
	}
}

func TestRuleForLongestPrefix(t *testing.T) {
	c := mustConfig(t, `{"default_limit": 100, "path_limits": [
		{"path": "/api", "limit": 50}, {"path": "/api/v1/search", "limit": 20}, {"path": "/api/v1", "limit": 30}]}`)
	for path, want := range map[string]uint64{
		"/api/v1/search?q=x": 20, "/api/v1/searchable": 20, "/api/v1/users": 30, "/api/v2": 50, "/apix": 50, "/": 100, "": 100,
	} {
		if got := c.ruleFor(path).limit; got != want {
			t.Errorf("ruleFor(%q).limit = %d, want %d", path, got, want)
		}
	}
}

// memStore is an in-memory CAS store with the host's semantics (cas 0 =
// unconditional; a new version on every write). interfere, when set, runs
// between a get and the following set, like another VM updating the entry.
type memStore struct {
	vals      map[string][]byte
	cas       map[string]uint32
	next      uint32
	interfere func()
	failGet   error
	failSet   error
}

func newMemStore() *memStore {
	return &memStore{vals: map[string][]byte{}, cas: map[string]uint32{}, next: 1}
}

func (m *memStore) get(key string) ([]byte, uint32, error) {
	if m.failGet != nil {
		return nil, 0, m.failGet
	}
	v, ok := m.vals[key]
	if !ok {
		return nil, 0, types.ErrorStatusNotFound
	}
	return v, m.cas[key], nil
}

func (m *memStore) set(key string, v []byte, cas uint32) error {
	if f := m.interfere; f != nil {
		m.interfere = nil
		f()
	}
	if m.failSet != nil {
		return m.failSet
	}
	if cur, ok := m.cas[key]; ok && cas != 0 && cas != cur {
		return types.ErrorStatusCasMismatch
	}
	m.vals[key] = append([]byte(nil), v...)
	m.cas[key] = m.next
	m.next++
	return nil
}

func TestTakeCountsInFixedWindows(t *testing.T) {
	s := newMemStore()
	r := rule{prefix: "/api/v1/upload", limit: 2, window: 300}
	key := counterKey(r, "*")
	if key != "rate-limiter:300s:/api/v1/upload:*" {
		t.Errorf("key %q", key)
	}
	now := int64(1_800_000_100) // window [1_800_000_000, 1_800_000_300)
	for i, want := range []outcome{{true, 1, 1_800_000_300}, {true, 2, 1_800_000_300}, {false, 2, 1_800_000_300}, {false, 2, 1_800_000_300}} {
		got, err := take(s, key, r, now+int64(i))
		if err != nil || got != want {
			t.Fatalf("request %d: %+v %v, want %+v", i, got, err, want)
		}
	}
	got, err := take(s, key, r, 1_800_000_300) // the next window starts afresh
	if err != nil || got != (outcome{true, 1, 1_800_000_600}) {
		t.Fatalf("next window: %+v %v", got, err)
	}
	if len(s.vals) != 1 {
		t.Errorf("one entry per rule and client, got %d", len(s.vals))
	}
	zero := rule{limit: 0, window: 60}
	if got, _ := take(s, counterKey(zero, "*"), zero, now); got.allowed {
		t.Error("limit 0 rejects everything")
	}
}

func TestTakeRetriesOnCASMismatch(t *testing.T) {
	s := newMemStore()
	r := rule{limit: 10, window: 60}
	key := counterKey(r, "*")
	now := int64(1_800_000_000)
	if _, err := take(s, key, r, now); err != nil {
		t.Fatal(err)
	}
	// Another VM counts a request between our read and our write.
	s.interfere = func() {
		if _, err := take(s, key, r, now); err != nil {
			t.Fatal(err)
		}
	}
	got, err := take(s, key, r, now)
	if err != nil || got.count != 3 || !got.allowed {
		t.Fatalf("after a lost race: %+v %v, want count 3", got, err)
	}
	if _, n, _ := decodeCounter(s.vals[key]); n != 3 {
		t.Errorf("stored count %d, want 3 (no lost update)", n)
	}
}

func TestTakeReportsStoreFailures(t *testing.T) {
	r := rule{limit: 10, window: 60}
	s := newMemStore()
	s.failGet = errors.New("boom")
	if _, err := take(s, "k", r, 0); err == nil || !strings.Contains(err.Error(), `reading shared data "k": boom`) {
		t.Errorf("get failure: %v", err)
	}
	s = newMemStore()
	s.failSet = types.ErrorStatusBadArgument
	if _, err := take(s, "k", r, 0); err == nil || !strings.Contains(err.Error(), "writing shared data") {
		t.Errorf("set failure: %v", err)
	}
	s = newMemStore()
	s.failSet = types.ErrorStatusCasMismatch
	if _, err := take(s, "k", r, 0); err == nil || !strings.Contains(err.Error(), "still contended after 16 attempts") {
		t.Errorf("endless contention: %v", err)
	}
	// A value that is not ours (wrong size) is overwritten, not trusted.
	s = newMemStore()
	s.vals["k"], s.cas["k"] = []byte("junk"), 9
	if got, err := take(s, "k", r, 0); err != nil || got.count != 1 {
		t.Errorf("junk entry: %+v %v", got, err)
	}
}
