"""Module distribution: oci://, http(s)://, file:// fetchers, istio-agent's cache, credentials, push."""
