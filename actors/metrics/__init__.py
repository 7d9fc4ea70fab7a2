"""Incremental metrics: each module offers initial() -> state, update(state, batch) -> state
and result(state), so the live actor, a backfill and a test table share the same code."""
