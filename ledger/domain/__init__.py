"""The registry's aggregates: every rule lives in the aggregate that owns it."""
