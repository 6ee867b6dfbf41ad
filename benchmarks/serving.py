"""Serving throughput and latency: Ferry's handler (direct and through Ferry's front),
TorchServe's stock BaseHandler, and the model called in-process (the ceiling).

    .venv/bin/python -m benchmarks.serving [--seconds 4]

Not a test: it prints figures and ratios measured in the same run and asserts nothing.
"""

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import torch
from model_archiver.model_archiver_config import ModelArchiverConfig
from model_archiver.model_packaging import generate_model_archive

from ferry.cli.__main__ import main as ferry_cli
from tests.torchserve.conftest import ServedModel

FEATURES = 512
CONCURRENCY = (1, 8, 32)
BATCHES = (1, 8)


class Mlp(torch.nn.Module):
    """A few ms per forward on one CPU core at batch 8."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(FEATURES, 2048),
            torch.nn.ReLU(),
            torch.nn.Linear(2048, 2048),
            torch.nn.ReLU(),
            torch.nn.Linear(2048, FEATURES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def body() -> dict[str, Any]:
    return {"data": [[0.01] * FEATURES]}


def in_process(model: torch.nn.Module, batch: int, seconds: float) -> float:
    """Requests per second with JSON decode/encode, `batch` requests per forward."""
    payload = json.dumps(body())
    done, deadline = 0, time.monotonic() + seconds
    with torch.inference_mode():
        while time.monotonic() < deadline:
            rows = [json.loads(payload)["data"] for _ in range(batch)]
            out = model(torch.tensor(rows).squeeze(1))
            for row in out.tolist():
                json.dumps([row])
            done += batch
    return done / seconds


async def load(
    url: str, headers: dict[str, str], concurrency: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    payload = json.dumps(body())
    headers = {**headers, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def client() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                async with session.post(url, data=payload, headers=headers) as answer:
                    await answer.read()
                    errors += answer.status != 200
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
        "errors": errors,
    }


def stock_archive(model_file: Path, out: Path, name: str) -> Path:
    generate_model_archive(
        ModelArchiverConfig(
            model_name=name,
            handler=str(Path(__file__).with_name("stock_handler.py")),
            version="1.0",
            serialized_file=str(model_file),
            export_path=str(out),
            force=True,
        )
    )
    return out / f"{name}.mar"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Mlp().eval()
    root = Path(tempfile.mkdtemp(prefix="ferry-bench-"))
    example = (torch.randn(4, FEATURES),)
    dim = torch.export.Dim("batch", min=1, max=1024)
    torch.export.save(
        torch.export.export(model, example, dynamic_shapes=({0: dim},)), root / "m.pt2"
    )
    torch.jit.save(torch.jit.trace(model, example), root / "m.pt")
    with torch.inference_mode():
        t0 = time.perf_counter()
        for _ in range(50):
            model(torch.randn(8, FEATURES))
        print(f"model forward at batch 8: {(time.perf_counter() - t0) / 50 * 1000:.2f} ms")
    ceilings = {b: in_process(model, b, args.seconds) for b in BATCHES}
    rows = []
    for batch in BATCHES:
        out = root / f"pkg{batch}"
        ferry_cli(
            [
                "package",
                str(root / "m.pt2"),
                "--name",
                "ferry",
                "--version",
                "1.0",
                "--input-shape",
                str(FEATURES),
                "--warmup",
                "1",
                "--output-dir",
                str(out),
            ]
        )
        servers = {
            "ferry": ServedModel(
                root / f"ferry{batch}",
                "ferry",
                "1.0",
                archive=out / "ferry.mar",
                batch_size=batch,
                max_batch_delay_ms=5,
            ),
            "stock": ServedModel(
                root / f"stock{batch}",
                "stock",
                "1.0",
                archive=stock_archive(root / "m.pt", out, "stock"),
                batch_size=batch,
                max_batch_delay_ms=5,
            ),
        }
        for served in servers.values():
            served.start()
            served.wait_ready()
        try:
            key = {"Authorization": f"Bearer {servers['ferry'].keys().inference}"}
            stock_key = {"Authorization": f"Bearer {servers['stock'].keys().inference}"}
            targets = {
                "ferry via front": (f"{servers['ferry'].front}/predictions/ferry", {}),
                "ferry direct": (f"{servers['ferry'].ts_inference}/predictions/ferry", key),
                "stock direct": (f"{servers['stock'].ts_inference}/predictions/stock", stock_key),
            }
            for concurrency in CONCURRENCY:
                for label, (url, headers) in targets.items():
                    figures = asyncio.run(load(url, headers, concurrency, args.seconds))
                    rows.append((label, batch, concurrency, figures, ceilings[batch]))
                    print_row(*rows[-1])
        finally:
            for served in servers.values():
                served.stop()
    print(
        "in-process ceiling: " + ", ".join(f"batch {b}: {c:.0f} req/s" for b, c in ceilings.items())
    )


def print_row(
    label: str, batch: int, concurrency: int, f: dict[str, float], ceiling: float
) -> None:
    print(
        f"{label:16} batch {batch} conc {concurrency:2}: {f['rps']:7.0f} req/s  "
        f"p50 {f['p50']:6.1f} ms  p99 {f['p99']:6.1f} ms  errors {f['errors']:.0f}  "
        f"served/ceiling {f['rps'] / ceiling:.2f}"
    )


if __name__ == "__main__":
    main()
