"""Test tools for plugin authors: pytest fixtures, upstream fakes, virtual clock, declarative tests."""
