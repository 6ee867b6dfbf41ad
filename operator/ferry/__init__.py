"""Ferry: a Kubernetes operator that serves PyTorch models on TorchServe."""

API_GROUP = "serving.ferry.dev"
API_VERSION = "v1alpha1"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
