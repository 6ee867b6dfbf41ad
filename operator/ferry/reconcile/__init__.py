"""Pure reconcile decisions: observed world + desired spec + clock -> writes, status, events."""
