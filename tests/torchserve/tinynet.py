"""The small models the torchserve tier serves (shipped into archives as the model class)."""

import torch

IN_FEATURES = 16
OUT_FEATURES = 4


class TinyNet(torch.nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(IN_FEATURES, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, OUT_FEATURES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class BrokenNet(TinyNet):
    """Raises while the worker initializes: TorchServe's /ping stays Healthy regardless."""

    def __init__(self, hidden: int = 32) -> None:
        raise RuntimeError("this model cannot be built")
