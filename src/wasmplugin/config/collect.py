"""Collecting one document's problems as diagnostics."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from wasmplugin.config.diagnostics import Diagnostic, Location, error, warning
from wasmplugin.config.meta import ObjectMeta, parse_meta
from wasmplugin.config.schema import Problem

__all__ = ["Collector", "resource_label", "start_document"]


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

    def unknown_fields(self, body: dict[str, Any], known: Collection[str]) -> None:
        """An error for each top-level key of ``body`` that is not ``known``."""
        for key in body:
            if key not in known:
                self.error(key, "unknown field", "schema")

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def start_document(
    kind: str, body: dict[str, Any], location: Location, strict: bool
) -> tuple[Collector, ObjectMeta | None]:
    """A collector for one ``kind`` document, its metadata parsed and the metadata problems in."""
    meta, meta_problems = parse_meta(body)
    out = Collector(location, resource_label(kind, body, meta), strict)
    out.problems(meta_problems, "metadata")
    return out, meta


def resource_label(kind: str, body: dict[str, Any], meta: ObjectMeta | None) -> str:
    if meta is not None:
        return f"{kind} {meta.namespace}/{meta.name}"
    raw = body.get("metadata")
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"{kind} {name}" if isinstance(name, str) and name else kind
