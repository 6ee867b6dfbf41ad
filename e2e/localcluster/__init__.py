"""A real Kubernetes control plane built from Go modules, with kwok-simulated GPU nodes."""

from e2e.localcluster.access import ClusterAccess
from e2e.localcluster.cluster import LocalCluster
from e2e.localcluster.processes import ClusterError

__all__ = ["ClusterAccess", "ClusterError", "LocalCluster"]
