"""Helpers the test suites share (imported as ``tests.support.…``)."""
