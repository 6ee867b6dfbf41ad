"""Model-level health: pure decisions over plain data (readiness, golden output, stats)."""
