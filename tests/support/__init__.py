"""Helpers shared by test suites: real services started and stopped by the tests themselves."""
