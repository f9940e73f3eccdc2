// Package upstream turns the URL a user writes in pluginConfig into what a
// proxy_http_call needs: proxy-wasm calls name an Envoy cluster, not a URL.
package upstream

import (
	"net/url"
	"strings"

	"wasmplugin.test/plugins/go-common/pluginconfig"
)

// Upstream is where an http_call goes.
type Upstream struct {
	URI       string // as configured
	Cluster   string // e.g. "outbound|443||auth.example.com"
	Authority string // :authority of the call, the URI's host[:port] as written
	Path      string // :path of the call, path and query of the URI ("/" when empty)
}

// Parse turns an http(s) URI into the cluster a user would reference through
// an Istio ServiceEntry (or a Kubernetes Service): outbound|PORT||HOST, the
// port defaulting to 80 for http and 443 for https. A non-empty override
// replaces the derived cluster name. Errors are *pluginconfig.Error at key.
func Parse(key, uri, clusterOverride string) (Upstream, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return Upstream{}, pluginconfig.KeyError(key, "not a valid URL: %q", uri)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return Upstream{}, pluginconfig.KeyError(key, "must be an http:// or https:// URL, got %q", uri)
	}
	if u.User != nil {
		return Upstream{}, pluginconfig.KeyError(key, "must not contain user information: %q", uri)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return Upstream{}, pluginconfig.KeyError(key, "has no host: %q", uri)
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
	return Upstream{URI: uri, Cluster: cluster, Authority: u.Host, Path: path}, nil
}
