"""Where a problem is and what it is: one diagnostic per line, errors and warnings alike.

Every problem found while reading configuration is a :class:`Diagnostic`. ``str()`` of one is the
line the user sees, ``file#doc: Kind ns/name: field.path: reason`` (the format of
:class:`~wasmplugin.errors.ConfigError`), warnings prefixed with ``warning:``.

A diagnostic with an ``extension`` id marks one of the blog's forms that Istio rejects; it is a
warning unless ``--strict`` is given, which makes it an error (:meth:`Diagnostic.resolve`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from wasmplugin.errors import ConfigError

__all__ = ["Diagnostic", "Location", "Severity", "error", "warning"]


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Location:
    """A file, the 1-based document number inside it, and optionally a 1-based line."""

    file: str | None = None
    document: int | None = None
    line: int | None = None

    def label(self) -> str | None:
        if self.file is None:
            return None
        if self.document is not None:
            return f"{self.file}#{self.document}"
        if self.line is not None:
            return f"{self.file}:{self.line}"
        return self.file

    def __str__(self) -> str:
        return self.label() or "<unknown>"


#: Origins: which part of the pipeline found the problem (documented in docs/configuration.md).
ORIGINS = ("file", "yaml", "kind", "metadata", "schema", "webhook", "extension", "reference", "mesh")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    reason: str
    location: Location = Location()
    #: ``Kind namespace/name`` (or ``Kind name`` for cluster-scoped / unnamed documents).
    resource: str | None = None
    #: Field path, e.g. ``spec.vmConfig.env[1].valueFrom``.
    field: str | None = None
    origin: str = "schema"
    #: Id of the blog form this accepts (``None`` for ordinary problems).
    extension: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def resolve(self, strict: bool) -> Diagnostic:
        """The final form: an extension is a warning, or an error under ``--strict``."""
        if self.extension is None:
            return self
        if strict:
            return replace(
                self,
                severity=Severity.ERROR,
                reason=f"{self.reason} (blog form, rejected by --strict)",
            )
        return replace(
            self,
            severity=Severity.WARNING,
            reason=f"{self.reason} (blog form, accepted as an extension)",
        )

    def to_error(self) -> ConfigError:
        return ConfigError(
            self.reason,
            file=self.location.file if self.location.document is not None else self.location.label(),
            document=self.location.document,
            resource=self.resource,
            field=self.field,
        )

    def __str__(self) -> str:
        text = str(self.to_error())
        return f"warning: {text}" if self.severity is Severity.WARNING else text


def error(
    reason: str,
    *,
    location: Location = Location(),
    resource: str | None = None,
    field: str | None = None,
    origin: str = "schema",
    extension: str | None = None,
) -> Diagnostic:
    return Diagnostic(Severity.ERROR, reason, location, resource, field, origin, extension)


def warning(
    reason: str,
    *,
    location: Location = Location(),
    resource: str | None = None,
    field: str | None = None,
    origin: str = "schema",
    extension: str | None = None,
) -> Diagnostic:
    return Diagnostic(Severity.WARNING, reason, location, resource, field, origin, extension)
