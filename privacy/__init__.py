"""Privacy rules as plain Python: what counts as health data and who may receive it."""
