"""Collecting one document's problems as diagnostics."""

from __future__ import annotations

from typing import Any

from wasmplugin.config.diagnostics import Diagnostic, Location, error, warning
from wasmplugin.config.meta import ObjectMeta
from wasmplugin.config.schema import Problem

__all__ = ["Collector", "resource_label"]


class Collector:
    """Turns field problems into diagnostics for one document."""

    def __init__(self, location: Location, resource: str, strict: bool = False) -> None:
        self.location = location
        self.resource = resource
        self.strict = strict
        self.diagnostics: list[Diagnostic] = []

    def error(self, path: str | None, reason: str, origin: str) -> None:
        self.diagnostics.append(
            error(reason, location=self.location, resource=self.resource, field=path, origin=origin)
        )

    def warning(self, path: str | None, reason: str, origin: str, extension: str | None = None) -> None:
        self.diagnostics.append(
            warning(
                reason,
                location=self.location,
                resource=self.resource,
                field=path,
                origin=origin,
                extension=extension,
            ).resolve(self.strict)
        )

    def problems(self, problems: list[Problem], origin: str) -> None:
        for problem in problems:
            self.error(problem.path, problem.reason, origin)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def resource_label(kind: str, body: dict[str, Any], meta: ObjectMeta | None) -> str:
    if meta is not None:
        return f"{kind} {meta.namespace}/{meta.name}"
    raw = body.get("metadata")
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"{kind} {name}" if isinstance(name, str) and name else kind
