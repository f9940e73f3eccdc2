module __NAME__

go 1.24

// The proxy-wasm Go SDK has no tagged releases: this is the commit wasmplugin's own Go plugins use.
require github.com/proxy-wasm/proxy-wasm-go-sdk v0.0.0-20250212164326-ab4161dcf924
