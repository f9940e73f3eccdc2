"""pytest plugin registered by the ``wasmplugin`` entry point (fixtures for plugin authors)."""

from __future__ import annotations
