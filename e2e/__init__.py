"""End-to-end tooling: the local control plane and the scenarios that run on it."""
