"""Baseline for benchmarks/serving.py: TorchServe's stock BaseHandler with JSON in and out.

BaseHandler loads the TorchScript file and runs preprocess, inference and postprocess; this
adds only JSON. It answers one row per request, as the benchmark sends one instance each.
"""

import torch
from ts.torch_handler.base_handler import BaseHandler


class StockJsonHandler(BaseHandler):
    def preprocess(self, data):  # type: ignore[no-untyped-def]
        rows = [row.get("data") or row.get("body") for row in data]
        return torch.cat([torch.tensor(r["data"], dtype=torch.float32) for r in rows])

    def postprocess(self, data):  # type: ignore[no-untyped-def]
        return [[row] for row in data.tolist()]
