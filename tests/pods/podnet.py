"""The model class shipped inside the pods tier's archives (imports only torch).

`PodNet` is a 16-32-4 MLP; its keyword arguments (`ferry package --model-args`) make a
version misbehave the way real versions do, so rollout and autoscaling tests can tell a good
canary from a bad one by what a user would notice:

- `init_error`: the worker raises while loading (TorchServe's workers never turn READY);
- `fail_every`: every N-th forward pass raises (the handler answers that request 500), so a
  share of exactly 1/N of the requests fails whatever the traffic;
- `delay_seconds`: every forward pass sleeps that long first (a slow version).
"""

import time

import torch

IN_FEATURES = 16
OUT_FEATURES = 4


class PodNet(torch.nn.Module):
    def __init__(
        self,
        init_error: str | None = None,
        fail_every: int = 0,
        delay_seconds: float = 0.0,
    ) -> None:
        if init_error:
            raise RuntimeError(init_error)
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(IN_FEATURES, 32),
            torch.nn.ReLU(),
            torch.nn.Linear(32, OUT_FEATURES),
        )
        self.fail_every = fail_every
        self.delay_seconds = delay_seconds
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if self.fail_every and self.calls % self.fail_every == 0:
            raise RuntimeError(f"forward pass {self.calls} fails (fail_every={self.fail_every})")
        return self.body(x)
