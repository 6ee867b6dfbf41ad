"""Command-line tools: `ferry package` (and later `kubectl-ferry`)."""
