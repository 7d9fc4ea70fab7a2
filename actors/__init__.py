"""The workout: pure domain (metrics, state machine) and the thin Ray actor around it."""
