module wasmplugin.test/gourl

// Go < 1.26 keeps GODEBUG urlstrictcolons=0, as Kubernetes and Istio (go.mod go 1.24/1.25) do.
go 1.24
