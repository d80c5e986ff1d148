"""Conformance suites: what every registered strategy, search space, problem kind, backend and run
store must pass. They read the registries, so the tests (tests/*/test_*_conformance.py) run them over
everything registered, and a new strategy or backend is tested without editing a test."""
