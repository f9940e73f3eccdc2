package main

import (
	"fmt"
	"strings"

	"wasmplugin.test/plugins/go-common/pluginconfig"
	"wasmplugin.test/plugins/go-common/upstream"
)

// config is the parsed pluginConfig, defaults applied. Immutable after parseConfig.
type config struct {
	policy        upstream.Upstream
	cacheEnabled  bool
	cacheTTL      int64 // seconds
	timeoutMS     uint32
	subjectHeader string
	scopesHeader  string
	unknownKeys   []string
}

const (
	defaultCacheTTL      = 60
	defaultTimeoutMS     = 5000
	defaultSubjectHeader = "x-jwt-sub"
	defaultScopesHeader  = "x-jwt-scopes"
)

func parseConfig(data []byte) (*config, error) {
	o, err := pluginconfig.Parse(data)
	if err != nil {
		return nil, err
	}
	c := &config{
		cacheTTL:      defaultCacheTTL,
		timeoutMS:     defaultTimeoutMS,
		subjectHeader: defaultSubjectHeader,
		scopesHeader:  defaultScopesHeader,
	}
	endpoint, ok, err := o.Str("policy_endpoint")
	if err != nil {
		return nil, err
	}
	if !ok || endpoint == "" {
		return nil, pluginconfig.KeyError("policy_endpoint", "required (the URL of the policy service, e.g. \"http://policy-service.default.svc:8080\")")
	}
	cluster, _, err := o.Str("policy_cluster")
	if err != nil {
		return nil, err
	}
	if c.policy, err = upstream.Parse("policy_endpoint", endpoint, cluster); err != nil {
		return nil, err
	}
	if v, ok, err := o.Bool("cache_enabled"); err != nil {
		return nil, err
	} else if ok {
		c.cacheEnabled = v
	}
	if v, ok, err := o.Int("cache_ttl", 0, 86400*365); err != nil {
		return nil, err
	} else if ok {
		c.cacheTTL = v
	}
	if v, ok, err := o.Int("policy_timeout_ms", 1, 600000); err != nil {
		return nil, err
	} else if ok {
		c.timeoutMS = uint32(v)
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"subject_header", &c.subjectHeader}, {"scopes_header", &c.scopesHeader}} {
		v, ok, err := o.Str(k.key)
		if err != nil {
			return nil, err
		}
		if ok {
			if v == "" || strings.ContainsAny(v, " :\t\r\n") {
				return nil, pluginconfig.KeyError(k.key, "must be a header name, got %q", v)
			}
			*k.dst = strings.ToLower(v)
		}
	}
	c.unknownKeys = o.Unknown()
	return c, nil
}

// UnknownKeys are the top-level keys this plugin does not know (logged as warnings at start).
func (c *config) UnknownKeys() []string { return c.unknownKeys }

// Summary is what the start-up log line says about the configuration.
func (c *config) Summary() string {
	cache := "disabled"
	if c.cacheEnabled {
		cache = fmt.Sprintf("%ds", c.cacheTTL)
	}
	return fmt.Sprintf("policy_endpoint=%s policy_cluster=%s cache=%s subject_header=%s",
		c.policy.URI, c.policy.Cluster, cache, c.subjectHeader)
}
