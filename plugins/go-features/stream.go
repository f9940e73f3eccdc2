package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// stream is one HTTP stream. Its behaviour is chosen by the request path (route).
type stream struct {
	types.DefaultHttpContext
	root      *plugin
	contextID uint32

	route        string // :path without the query string
	bodyCalls    int    // request body callbacks seen
	bodyBytes    int    // request body bytes seen at end of stream
	callStatus   string // /go/http_call: status of the call, echoed in a response header
	leakedHeader bool   // config leak mode: report the total in a response header
}

func (s *stream) OnHttpRequestHeaders(numHeaders int, endOfStream bool) types.Action {
	method, _ := proxywasm.GetHttpRequestHeader(":method")
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	s.route, _, _ = strings.Cut(path, "?")
	s.root.counter(metricRequests + ".method=" + method).Increment(1)
	s.root.active.Add(1)
	proxywasm.LogDebugf(logPrefix+"%s %s", method, path)

	if n := s.root.cfg.LeakBytesPerRequest; n > 0 && s.route != "/go/leak" {
		leak(n)
		s.root.leakedGauge.Add(int64(n))
		s.leakedHeader = true
	}

	switch s.route {
	case "/go/http_call", "/go/http_call/local":
		return s.startHttpCall()
	case "/go/shared/incr":
		v, retries, err := casIncrement(keyCounter)
		if err != nil {
			return s.reply(500, "shared data: "+err.Error()+"\n", "x-go-shared-error", statusName(err))
		}
		n := strconv.FormatUint(v, 10)
		return s.reply(200, n+"\n", "x-go-shared-value", n, "x-go-cas-retries", strconv.Itoa(retries))
	case "/go/shared/cas_mismatch":
		return s.casMismatch()
	case "/go/queue/enqueue":
		return s.enqueue(path)
	case "/go/queue/last":
		item, _, err := proxywasm.GetSharedData(keyLastQueueItem)
		if err != nil {
			return s.reply(404, "no queue item yet\n", "x-go-last-item-status", statusName(err))
		}
		return s.reply(200, string(item)+"\n", "x-go-last-item", string(item))
	case "/go/properties":
		return s.properties()
	case "/go/ticks":
		return s.reply(200, readCount(keyTicks)+"\n", "x-go-ticks", readCount(keyTicks))
	case "/go/callout/result":
		stored, _, err := proxywasm.GetSharedData(keyCallout)
		if err != nil {
			return s.reply(503, "no callout result yet\n", "x-go-callout-status", "none")
		}
		status, body, _ := strings.Cut(string(stored), "\n")
		return s.reply(200, body, "x-go-callout-status", status)
	case "/go/metrics":
		return s.reply(200, "",
			"x-go-requests-total", strconv.FormatUint(s.root.counter(metricRequests+".method="+method).Value(), 10),
			"x-go-active-requests", strconv.FormatInt(s.root.active.Value(), 10))
	case "/go/leak":
		n := s.root.cfg.LeakBytesPerRequest
		if n == 0 {
			n = defaultLeakBytes
		}
		total := leak(n)
		s.root.leakedGauge.Add(int64(n))
		return s.reply(200, "", "x-go-leaked-bytes", strconv.Itoa(total))
	case "/go/body/echo":
		if endOfStream {
			return s.reply(200, "", "x-go-body-bytes", "0", "x-go-body-calls", "0")
		}
	}
	return types.ActionContinue
}

func (s *stream) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	s.bodyCalls++
	switch s.route {
	case "/go/body/echo", "/go/body/upper":
		if !endOfStream {
			return types.ActionPause // keep buffering; the next call sees the whole body so far
		}
	default:
		s.bodyBytes += bodySize // not buffered: each call sees one chunk
		return types.ActionContinue
	}
	s.bodyBytes = bodySize
	body, err := proxywasm.GetHttpRequestBody(0, bodySize)
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		return s.reply(500, "read body: "+err.Error()+"\n", "x-go-body-error", statusName(err))
	}
	if s.route == "/go/body/echo" {
		return s.reply(200, string(body),
			"x-go-body-bytes", strconv.Itoa(len(body)), "x-go-body-calls", strconv.Itoa(s.bodyCalls))
	}
	if err := proxywasm.ReplaceHttpRequestBody(asciiUpper(body)); err != nil {
		return s.reply(500, "replace body: "+err.Error()+"\n", "x-go-body-error", statusName(err))
	}
	return types.ActionContinue
}

func (s *stream) OnHttpResponseHeaders(numHeaders int, endOfStream bool) types.Action {
	if s.callStatus != "" {
		_ = proxywasm.AddHttpResponseHeader("x-go-call-status", s.callStatus)
	}
	if s.leakedHeader {
		_ = proxywasm.AddHttpResponseHeader("x-go-leaked-bytes", strconv.Itoa(leakedTotal()))
	}
	if s.route == "/go/body/response" {
		// The body grows, so the length the upstream announced is no longer right.
		_ = proxywasm.RemoveHttpResponseHeader("content-length")
	}
	return types.ActionContinue
}

func (s *stream) OnHttpResponseBody(bodySize int, endOfStream bool) types.Action {
	if s.route != "/go/body/response" {
		return types.ActionContinue
	}
	if !endOfStream {
		return types.ActionPause
	}
	if err := proxywasm.AppendHttpResponseBody([]byte(responseBodySuffix)); err != nil {
		proxywasm.LogErrorf(logPrefix+"append response body: %v", err)
	}
	return types.ActionContinue
}

func (s *stream) OnHttpStreamDone() {
	s.root.active.Add(-1)
	s.root.bodyBytes.Record(uint64(s.bodyBytes))
}

// reply sends a local response with headers given as name, value, name, value...
func (s *stream) reply(status uint32, body string, kv ...string) types.Action {
	headers := make([][2]string, 0, len(kv)/2+1)
	for i := 0; i+1 < len(kv); i += 2 {
		headers = append(headers, [2]string{kv[i], kv[i+1]})
	}
	headers = append(headers, [2]string{"x-go-route", s.route})
	if err := proxywasm.SendHttpResponse(status, headers, []byte(body), -1); err != nil {
		proxywasm.LogErrorf(logPrefix+"send local response: %v", err)
	}
	return types.ActionPause
}

// startHttpCall pauses the request and calls a cluster; the response resumes the request with
// x-go-call-status added (/go/http_call) or is sent back as a local reply (/go/http_call/local).
func (s *stream) startHttpCall() types.Action {
	cluster, err := proxywasm.GetHttpRequestHeader("x-go-cluster")
	if err != nil || cluster == "" {
		cluster = s.root.cfg.HttpCallCluster
	}
	if cluster == "" {
		return s.reply(500, "no cluster: set http_call_cluster or send x-go-cluster\n", "x-go-call-error", "no_cluster")
	}
	callPath, err := proxywasm.GetHttpRequestHeader("x-go-call-path")
	if err != nil || callPath == "" {
		callPath = "/"
	}
	headers := [][2]string{{":method", "GET"}, {":path", callPath}, {":authority", cluster}, {"x-go-features", "http-call"}}
	local := s.route == "/go/http_call/local"
	_, err = proxywasm.DispatchHttpCall(cluster, headers, nil, nil, s.root.cfg.HttpCallTimeoutMs,
		func(numHeaders, bodySize, numTrailers int) {
			status, body := readCallResponse(numHeaders, bodySize)
			if local {
				s.reply(200, string(body), "x-go-call-status", status, "x-go-call-body-bytes", strconv.Itoa(len(body)))
				return
			}
			s.callStatus = status
			_ = proxywasm.AddHttpRequestHeader("x-go-call-status", status)
			_ = proxywasm.ResumeHttpRequest()
		})
	if err != nil {
		return s.reply(502, "http_call to "+cluster+" failed: "+err.Error()+"\n", "x-go-call-error", statusName(err))
	}
	return types.ActionPause
}

// casMismatch shows optimistic concurrency: a set with the current CAS succeeds, a second set
// with the same (now stale) CAS is refused.
func (s *stream) casMismatch() types.Action {
	const key = "go_features_cas_probe"
	_, cas, err := proxywasm.GetSharedData(key)
	if errors.Is(err, types.ErrorStatusNotFound) {
		if err := proxywasm.SetSharedData(key, []byte("0"), 0); err != nil {
			return s.reply(500, "seed: "+err.Error()+"\n", "x-go-seed-set", statusName(err))
		}
		_, cas, err = proxywasm.GetSharedData(key)
	}
	if err != nil {
		return s.reply(500, "get: "+err.Error()+"\n", "x-go-get", statusName(err))
	}
	first := proxywasm.SetSharedData(key, []byte("1"), cas)
	stale := proxywasm.SetSharedData(key, []byte("2"), cas)
	return s.reply(200, "", "x-go-first-set", statusName(first), "x-go-stale-set", statusName(stale))
}

func (s *stream) enqueue(path string) types.Action {
	item, err := proxywasm.GetHttpRequestHeader("x-go-item")
	if err != nil || item == "" {
		item = path
	}
	qid, err := proxywasm.ResolveSharedQueue("", s.root.cfg.QueueName)
	if err != nil {
		return s.reply(500, "resolve queue: "+err.Error()+"\n", "x-go-queue-error", statusName(err))
	}
	if err := proxywasm.EnqueueSharedQueue(qid, []byte(item)); err != nil {
		return s.reply(500, "enqueue: "+err.Error()+"\n", "x-go-queue-error", statusName(err))
	}
	return s.reply(200, "", "x-go-enqueued", item, "x-go-queue-id", strconv.FormatUint(uint64(qid), 10))
}

// propertyPaths are read by /go/properties; int-valued ones are decoded from 8 little-endian bytes.
var propertyPaths = []struct {
	path    string
	integer bool
}{
	{"request.path", false}, {"request.url_path", false}, {"request.method", false},
	{"request.host", false}, {"request.scheme", false}, {"request.protocol", false},
	{"request.id", false}, {"source.address", false}, {"source.port", true},
	{"destination.address", false}, {"destination.port", true}, {"connection.id", true},
	{"plugin_name", false}, {"plugin_root_id", false}, {"plugin_vm_id", false},
	{"xds.node.id", false}, {"xds.cluster_name", false}, {"node.id", false},
	{"go_features.marker", false},
}

// properties answers a JSON object: property path → value (string or integer), null when absent.
func (s *stream) properties() types.Action {
	setErr := proxywasm.SetProperty(strings.Split("go_features.marker", "."), []byte("set-by-go-features"))
	out := map[string]any{}
	for _, p := range propertyPaths {
		raw, err := proxywasm.GetProperty(strings.Split(p.path, "."))
		switch {
		case err != nil:
			out[p.path] = nil
		case p.integer && len(raw) == 8:
			out[p.path] = binary.LittleEndian.Uint64(raw)
		default:
			out[p.path] = string(raw)
		}
	}
	body, _ := json.Marshal(out)
	return s.reply(200, string(body)+"\n", "content-type", "application/json", "x-go-set-property", statusName(setErr))
}

// readCount returns the decimal counter stored under key, "0" when absent.
func readCount(key string) string {
	data, _, err := proxywasm.GetSharedData(key)
	if err != nil {
		return "0"
	}
	return string(data)
}

func asciiUpper(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

const responseBodySuffix = "[go-features]"
