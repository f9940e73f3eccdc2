"""``metadata`` (Kubernetes ObjectMeta) and the name and label rules the API server applies."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wasmplugin.config.frozen import EMPTY, FrozenDict
from wasmplugin.config.schema import Problem, describe_value

__all__ = [
    "DEFAULT_NAMESPACE",
    "ObjectMeta",
    "label_key_problem",
    "label_value_problem",
    "parse_meta",
]

#: kubectl's namespace for a document without ``metadata.namespace`` (and no ``-n``).
DEFAULT_NAMESPACE = "default"

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)

#: ObjectMeta fields; the ones wasmplugin does not use are accepted and ignored.
_KNOWN_FIELDS = frozenset(
    {
        "name",
        "namespace",
        "labels",
        "annotations",
        "creationTimestamp",
        "resourceVersion",
        "uid",
        "generation",
        "generateName",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)


def dns1123_label_problem(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _DNS1123_LABEL.match(value):
        return (
            "must be a lowercase RFC 1123 label: lowercase letters, digits and '-', starting and "
            "ending with a letter or digit"
        )
    return None


def dns1123_subdomain_problem(value: str) -> str | None:
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not _DNS1123_SUBDOMAIN.match(value):
        return (
            "must be a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_key_problem(key: str) -> str | None:
    """Kubernetes ``IsQualifiedName``: ``[prefix/]name``."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return f"label key {describe_value(key)}: prefix part must not be empty"
    if prefix and dns1123_subdomain_problem(prefix):
        return f"label key {describe_value(key)}: prefix part {dns1123_subdomain_problem(prefix)}"
    if not name:
        return f"label key {describe_value(key)}: name part must not be empty"
    if len(name) > 63:
        return f"label key {describe_value(key)}: name part must be no more than 63 characters"
    if not _QUALIFIED_NAME.match(name):
        return (
            f"label key {describe_value(key)}: name part must consist of alphanumerics, '-', '_' "
            "or '.', starting and ending with an alphanumeric"
        )
    return None


def label_value_problem(value: str) -> str | None:
    if len(value) > 63:
        return f"label value {describe_value(value)}: must be no more than 63 characters"
    if not _LABEL_VALUE.match(value):
        return (
            f"label value {describe_value(value)}: must be empty or consist of alphanumerics, '-', "
            "'_' or '.', starting and ending with an alphanumeric"
        )
    return None


def check_labels(labels: Any, path: str) -> tuple[FrozenDict[str, str], list[Problem]]:
    """Validate a label map (metadata.labels, WorkloadEntry spec.labels ...)."""
    problems: list[Problem] = []
    if labels is None:
        return EMPTY, problems
    if not isinstance(labels, dict):
        return EMPTY, [Problem(path, f"must be a map of strings, got {describe_value(labels)}")]
    good: dict[str, str] = {}
    for key, value in labels.items():
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(
                Problem(f"{path}[{describe_value(key)}]", f"must be a string, got {describe_value(value)}")
            )
            continue
        problem = label_key_problem(key) or label_value_problem(value)
        if problem:
            problems.append(Problem(path, problem))
            continue
        good[key] = value
    return FrozenDict(good), problems


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 (``2024-05-01T10:00:00Z``, optional fraction and offset) → aware UTC datetime."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", text):
        return None
    try:
        return datetime.fromisoformat(text.replace("z", "Z").replace("t", "T")).astimezone(UTC)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    name: str
    namespace: str
    labels: FrozenDict[str, str] = EMPTY
    annotations: FrozenDict[str, str] = EMPTY
    #: As written (RFC 3339), or None.
    creation_timestamp: str | None = None
    resource_version: str | None = None
    uid: str | None = None
    #: Hash of the document, used as the resource version when none is written.
    content_hash: str = ""

    @property
    def created(self) -> datetime:
        """Creation time; unset is Go's zero time, which sorts before every real time (as Istio)."""
        if self.creation_timestamp is None:
            return _ZERO_TIME
        return parse_timestamp(self.creation_timestamp) or _ZERO_TIME

    @property
    def effective_resource_version(self) -> str:
        """``metadata.resourceVersion``, or a content hash so any edit changes the version
        (istio-agent re-pulls ``Always`` modules when it changes)."""
        return self.resource_version or self.content_hash

    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def content_hash(body: Any) -> str:
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256-" + hashlib.sha256(data.encode()).hexdigest()[:16]


def parse_meta(body: dict[str, Any], *, namespaced: bool = True) -> tuple[ObjectMeta | None, list[Problem]]:
    """Validate ``metadata``; return the ObjectMeta (None when the name is unusable)."""
    raw = body.get("metadata")
    problems: list[Problem] = []
    if raw is None:
        return None, [Problem("metadata", "required field is missing (metadata.name is needed)")]
    if not isinstance(raw, dict):
        return None, [Problem("metadata", f"must be an object, got {describe_value(raw)}")]
    for key in raw:
        if key not in _KNOWN_FIELDS:
            problems.append(Problem(f"metadata.{key}", "unknown field"))
    name = raw.get("name")
    if name is None:
        reason = "required field is missing"
        if raw.get("generateName") is not None:
            reason += " (generateName is not supported: there is no API server to generate one)"
        problems.append(Problem("metadata.name", reason))
    elif not isinstance(name, str):
        problems.append(Problem("metadata.name", f"must be a string, got {describe_value(name)}"))
        name = None
    elif (problem := dns1123_subdomain_problem(name)) is not None:
        problems.append(Problem("metadata.name", f"invalid name {describe_value(name)}: {problem}"))
    namespace = raw.get("namespace")
    if namespace is None:
        namespace = DEFAULT_NAMESPACE
    elif not isinstance(namespace, str):
        problems.append(Problem("metadata.namespace", f"must be a string, got {describe_value(namespace)}"))
        namespace = DEFAULT_NAMESPACE
    elif namespace == "":
        namespace = DEFAULT_NAMESPACE
    elif (problem := dns1123_label_problem(namespace)) is not None:
        problems.append(
            Problem("metadata.namespace", f"invalid namespace {describe_value(namespace)}: {problem}")
        )
    if not namespaced:
        namespace = ""
    labels, label_problems = check_labels(raw.get("labels"), "metadata.labels")
    problems.extend(label_problems)
    annotations_raw = raw.get("annotations")
    annotations: dict[str, str] = {}
    if annotations_raw is not None:
        if not isinstance(annotations_raw, dict):
            problems.append(
                Problem(
                    "metadata.annotations", f"must be a map of strings, got {describe_value(annotations_raw)}"
                )
            )
        else:
            for key, value in annotations_raw.items():
                if value is None:
                    continue
                if not isinstance(value, str):
                    problems.append(
                        Problem(f"metadata.annotations[{describe_value(key)}]", "must be a string")
                    )
                elif (problem := label_key_problem(key)) is not None:
                    problems.append(
                        Problem("metadata.annotations", problem.replace("label key", "annotation key"))
                    )
                else:
                    annotations[key] = value
    created = raw.get("creationTimestamp")
    if created is not None and (not isinstance(created, str) or parse_timestamp(created) is None):
        problems.append(
            Problem(
                "metadata.creationTimestamp",
                f"must be an RFC 3339 time such as 2024-05-01T10:00:00Z, got {describe_value(created)}",
            )
        )
        created = None
    version = raw.get("resourceVersion")
    if version is not None and not isinstance(version, str):
        problems.append(
            Problem("metadata.resourceVersion", f"must be a string, got {describe_value(version)}")
        )
        version = None
    uid = raw.get("uid")
    if uid is not None and not isinstance(uid, str):
        problems.append(Problem("metadata.uid", f"must be a string, got {describe_value(uid)}"))
        uid = None
    if not isinstance(name, str) or not name:
        return None, problems
    meta = ObjectMeta(
        name=name,
        namespace=namespace,
        labels=labels,
        annotations=FrozenDict(annotations),
        creation_timestamp=created,
        resource_version=version or None,
        uid=uid,
        content_hash=content_hash(body),
    )
    return meta, problems
