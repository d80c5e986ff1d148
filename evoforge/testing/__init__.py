"""Conformance suites: what every registered strategy, search space, problem kind, backend and run
store must pass. They read the registries, so ``tests/test_conformance.py`` runs them over
everything registered, and a new strategy or backend is tested without editing a test."""
