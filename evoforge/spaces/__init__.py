"""Genome representations beyond parameter vectors: NEAT networks (and, later, architectures)."""
