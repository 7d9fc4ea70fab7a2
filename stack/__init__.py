"""Composition root: settings, the `stride` CLI, and the local stack."""
