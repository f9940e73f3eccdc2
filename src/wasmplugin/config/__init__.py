"""Resources (WasmPlugin, WorkloadEntry, ServiceEntry, Secret, ConfigMap, mesh config): parsing,
Istio-exact validation, workload selection and chain order.

Typical use::

    from wasmplugin.config import load, build_plan

    result = load(["examples/demo/"])          # every problem is in result.diagnostics
    mesh = result.raise_for_errors()           # ConfigError (one line) if anything is wrong
    plan = build_plan(mesh, mesh.workload("default", "my-service"))
    for chain in plan.inbound:
        print(chain.port, [e.name for e in chain.http])
"""

from wasmplugin.config.diagnostics import Diagnostic, Location, Severity
from wasmplugin.config.loader import LoadResult, load, load_documents, load_text
from wasmplugin.config.mesh import Endpoint, InboundPort, Mesh, OutboundPort
from wasmplugin.config.plan import (
    CONFIG_DUMP_TYPE,
    ChainPlan,
    EnvVar,
    PlanEntry,
    PlanFormatError,
    PortChain,
    PullSecret,
    WorkloadRef,
    config_dump_section,
    plan_from_config_dump,
)
from wasmplugin.config.planner import build_plan
from wasmplugin.config.redact import Redacted
from wasmplugin.config.resources import (
    PHASE_ORDER,
    ConfigMap,
    FailStrategy,
    MeshConfig,
    Phase,
    PluginType,
    PriorityOrder,
    PullPolicy,
    Secret,
    ServiceEntry,
    WasmPlugin,
    WorkloadEntry,
)

__all__ = [
    "CONFIG_DUMP_TYPE",
    "PHASE_ORDER",
    "ChainPlan",
    "ConfigMap",
    "Diagnostic",
    "Endpoint",
    "EnvVar",
    "FailStrategy",
    "InboundPort",
    "LoadResult",
    "Location",
    "Mesh",
    "MeshConfig",
    "OutboundPort",
    "Phase",
    "PlanEntry",
    "PlanFormatError",
    "PluginType",
    "PortChain",
    "PriorityOrder",
    "PullPolicy",
    "PullSecret",
    "Redacted",
    "Secret",
    "ServiceEntry",
    "Severity",
    "WasmPlugin",
    "WorkloadEntry",
    "WorkloadRef",
    "build_plan",
    "config_dump_section",
    "load",
    "load_documents",
    "load_text",
    "plan_from_config_dump",
]
