"""Resources (WasmPlugin, WorkloadEntry, ServiceEntry, Secret, ConfigMap, mesh config): parsing,
Istio-exact validation, workload selection and chain order."""
