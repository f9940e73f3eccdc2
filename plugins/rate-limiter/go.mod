module wasmplugin.test/plugins/rate-limiter

go 1.25

require (
	github.com/proxy-wasm/proxy-wasm-go-sdk v0.0.0-20250212164326-ab4161dcf924
	wasmplugin.test/plugins/go-common v0.0.0
)

require github.com/tetratelabs/wazero v1.7.2 // indirect

// Shared configuration and upstream helpers (plugins/go-common), used from the source tree.
replace wasmplugin.test/plugins/go-common => ../go-common
