package main

import (
	"net/url"
	"strings"
)

// upstream is where an http_call goes: proxy-wasm calls name a cluster, not a URL.
type upstream struct {
	uri       string
	cluster   string // e.g. "outbound|443||auth.example.com"
	authority string // :authority of the call, the URI's host[:port] as written
	path      string // :path of the call, path and query of the URI ("/" when empty)
}

// parseUpstream turns an http(s) URI into the cluster a user would reference
// through an Istio ServiceEntry (or a Kubernetes Service): outbound|PORT||HOST,
// the port defaulting to 80 for http and 443 for https. A non-empty override
// replaces the derived cluster name.
func parseUpstream(key, uri, clusterOverride string) (upstream, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return upstream{}, keyErr(key, "not a valid URL: %q", uri)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return upstream{}, keyErr(key, "must be an http:// or https:// URL, got %q", uri)
	}
	if u.User != nil {
		return upstream{}, keyErr(key, "must not contain user information: %q", uri)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return upstream{}, keyErr(key, "has no host: %q", uri)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	cluster := "outbound|" + port + "||" + host
	if clusterOverride != "" {
		cluster = clusterOverride
	}
	return upstream{uri: uri, cluster: cluster, authority: u.Host, path: path}, nil
}
