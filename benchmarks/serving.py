"""Serving throughput and latency against the in-process ceiling.

    .venv/bin/python -m benchmarks.serving [--rounds 3] [--seconds 2] [--warmup 0.5]

Rows: Ferry's handler through Ferry's front (what clients reach) and through TorchServe
directly, and TorchServe's stock BaseHandler (benchmarks/stock_handler.py), at batch size 1
and 8 and concurrency 1, 8 and 32. The ceiling is the same model called in this process at
the same batch size doing the same work per request as a worker (JSON decode of the same
bodies, tensor build, one forward per batch, JSON encode) with the same torch thread count
the launcher gives each worker. Each row is measured in rounds interleaved with the other
targets and with the ceiling, after a warm-up, and reports the median round. The load generator
is this process, on the same CPUs as TorchServe; the output says how many CPUs there are and
how busy the rest of the machine was.

Not a test: it prints figures measured in one run and asserts nothing. About 4 minutes.
"""

import argparse
import asyncio
import io
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout, suppress
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import torch
from model_archiver.model_archiver_config import ModelArchiverConfig
from model_archiver.model_packaging import generate_model_archive

from ferry.cli.__main__ import main as ferry_cli
from ferry.runtime.cpus import cpu_budget, threads_per_worker
from tests.torchserve.conftest import ServedModel

FEATURES, HIDDEN, DEPTH, OUTPUTS = 256, 2048, 4, 16
CONCURRENCY = (1, 8, 32)
BATCHES = (1, 8)
MAX_BATCH_DELAY_MS = 5
BODIES = 64  # distinct request bodies, sent round-robin (and decoded the same way in-process)
JIT_WARMUP_SECONDS = 5.0  # TorchServe's Java frontend is slow until its JIT has compiled
GOAL = 0.6  # batched throughput at concurrency 32 / in-process ceiling


class Mlp(torch.nn.Module):
    """13 M parameters: a few ms per forward at batch 1 on one core of this machine."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = []
        for width_in, width_out in pairwise([FEATURES] + [HIDDEN] * DEPTH):
            layers += [torch.nn.Linear(width_in, width_out), torch.nn.ReLU()]
        self.net = torch.nn.Sequential(*layers, torch.nn.Linear(HIDDEN, OUTPUTS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def request_bodies() -> list[bytes]:
    """One instance per request, like a client scoring one item at a time."""
    rng = random.Random(0)
    return [
        json.dumps({"data": [[round(rng.uniform(-1, 1), 4) for _ in range(FEATURES)]]}).encode()
        for _ in range(BODIES)
    ]


def save_model(root: Path) -> tuple[Path, Path]:
    """The model as a torch.export program (Ferry's handler) and TorchScript (stock)."""
    torch.manual_seed(0)
    model = Mlp().eval()
    example = (torch.randn(4, FEATURES),)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(model, example, dynamic_shapes=({0: batch},))
    torch.export.save(program, root / "mlp.pt2")
    with warnings.catch_warnings():  # TorchScript is deprecated, and what BaseHandler loads
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.trace(model, example), root / "mlp.pt")
    return root / "mlp.pt2", root / "mlp.pt"


# ---------------------------------------------------------------------------- in-process


def forward_ms(module: Callable[[torch.Tensor], Any], batch: int, repeats: int = 30) -> float:
    x = torch.randn(batch, FEATURES)
    with torch.inference_mode():
        for _ in range(5):
            module(x)
        started = time.perf_counter()
        for _ in range(repeats):
            module(x)
    return (time.perf_counter() - started) / repeats * 1000


def answer_batch(module: Callable[[torch.Tensor], Any], bodies: list[bytes]) -> list[str]:
    """What a worker does for one batch, minus TorchServe: decode, build, forward, encode."""
    rows = [torch.tensor(json.loads(body)["data"], dtype=torch.float32) for body in bodies]
    with torch.inference_mode():
        output = module(torch.cat(rows))
    parts = torch.split(output, [len(row) for row in rows])
    return [json.dumps(part.tolist(), separators=(",", ":")) for part in parts]


def ceiling(
    module: Callable[[torch.Tensor], Any], bodies: list[bytes], batch: int, seconds: float
) -> float:
    """Requests per second answered in-process, `batch` requests per forward pass."""
    batches = [bodies[i : i + batch] for i in range(0, len(bodies) - batch + 1, batch)]
    for chunk in batches:  # warm-up: allocator and caches as in a busy worker
        answer_batch(module, chunk)
    answered, deadline = 0, time.monotonic() + seconds
    started = time.perf_counter()
    while time.monotonic() < deadline:
        for chunk in batches:
            answered += len(answer_batch(module, chunk))
    return answered / (time.perf_counter() - started)


# ---------------------------------------------------------------------------- served


@dataclass
class Sample:
    """One measured window against one target."""

    latencies: list[float]  # seconds, one per answered request
    elapsed: float
    errors: int
    cpu: dict[str, float]  # CPU seconds spent in the window, by component

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed


async def _load(
    url: str, headers: dict[str, str], bodies: list[bytes], concurrency: int, seconds: float
) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    headers = {**headers, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def client(offset: int) -> None:
            nonlocal errors
            sent = offset
            while time.perf_counter() < deadline:
                body = bodies[sent % len(bodies)]
                sent += 1
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    errors += answer.status != 200
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(client(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, errors


def load(
    url: str, headers: dict[str, str], bodies: list[bytes], concurrency: int, seconds: float
) -> tuple[list[float], float, int]:
    return asyncio.run(_load(url, headers, bodies, concurrency, seconds))


class CpuMeter:
    """CPU seconds used by each serving component, this process and the rest of the machine."""

    def __init__(self, served: ServedModel) -> None:
        assert served.process is not None
        launcher = psutil.Process(served.process.pid)
        self.parts: dict[str, list[psutil.Process]] = {"front": [launcher], "java": []}
        self.parts["worker"] = []
        for child in launcher.children(recursive=True):
            command = " ".join(child.cmdline())
            if "model_service_worker" in command:
                self.parts["worker"].append(child)
            elif child.name() == "java":
                self.parts["java"].append(child)
        self.parts["client"] = [psutil.Process()]

    def snapshot(self) -> dict[str, float]:
        used = {
            part: sum(sum(p.cpu_times()[:2]) for p in processes)
            for part, processes in self.parts.items()
        }
        machine = psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
        used["others"] = busy - sum(used.values()) + machine.steal
        return used


def sample(
    url: str,
    headers: dict[str, str],
    meter: CpuMeter,
    bodies: list[bytes],
    concurrency: int,
    args: argparse.Namespace,
) -> Sample:
    load(url, headers, bodies, concurrency, args.warmup)  # fill the pipeline, reach batch size
    before = meter.snapshot()
    latencies, elapsed, errors = load(url, headers, bodies, concurrency, args.seconds)
    after = meter.snapshot()
    return Sample(latencies, elapsed, errors, {part: after[part] - before[part] for part in after})


@dataclass
class Row:
    """One target at one batch size and concurrency, over every round."""

    target: str
    batch: int
    concurrency: int
    samples: list[Sample] = field(default_factory=list)
    ceiling: float = 0.0  # median in-process req/s at this batch size

    @property
    def rps(self) -> float:
        """The median round: a burst of other load on the machine spoils one round, not all."""
        return statistics.median(s.rps for s in self.samples)

    def latency_ms(self, quantile: float) -> float:
        pooled = sorted(latency for s in self.samples for latency in s.latencies)
        return pooled[min(len(pooled) - 1, int(len(pooled) * quantile))] * 1000

    def cpu_ms(self, part: str) -> float:
        """CPU time of one component per answered request."""
        answered = sum(len(s.latencies) for s in self.samples)
        return sum(s.cpu[part] for s in self.samples) / max(1, answered) * 1000

    @property
    def others_pct(self) -> float:
        """CPU used outside the benchmark (or stolen by the hypervisor), % of one core."""
        return (
            sum(s.cpu["others"] for s in self.samples) / sum(s.elapsed for s in self.samples) * 100
        )


def stock_archive(model_file: Path, out: Path) -> Path:
    generate_model_archive(
        ModelArchiverConfig(
            model_name="stock",
            handler=str(Path(__file__).with_name("stock_handler.py")),
            version="1.0",
            serialized_file=str(model_file),
            export_path=str(out),
            force=True,
        )
    )
    return out / "stock.mar"


def ferry_archive(model_file: Path, out: Path) -> Path:
    argv = ["package", str(model_file), "--name", "ferry", "--version", "1.0"]
    argv += ["--input-shape", str(FEATURES), "--warmup", "1", "--output-dir", str(out)]
    with redirect_stdout(io.StringIO()):  # its archive/sha256/manifest lines
        status = ferry_cli(argv)
    if status != 0:
        raise SystemExit("ferry package failed")
    return out / "ferry.mar"


@contextmanager
def serving(root: Path, archives: dict[str, Path], batch: int) -> Iterator[dict[str, ServedModel]]:
    """Both servers up at once (startup overlaps), always stopped."""
    servers = {
        name: ServedModel(
            root / f"{name}{batch}",
            name,
            "1.0",
            archive=archive,
            batch_size=batch,
            max_batch_delay_ms=MAX_BATCH_DELAY_MS if batch > 1 else 0,
        )
        for name, archive in archives.items()
    }
    try:
        for served in servers.values():
            served.start()
        for served in servers.values():
            served.wait_ready()
        yield servers
    finally:
        for served in servers.values():
            served.stop()


def targets(servers: dict[str, ServedModel]) -> dict[str, tuple[ServedModel, str, dict[str, str]]]:
    ferry, stock = servers["ferry"], servers["stock"]

    def key(served: ServedModel) -> dict[str, str]:
        return {"Authorization": f"Bearer {served.keys().inference}"}

    return {
        "ferry via front": (ferry, f"{ferry.front}/predictions/ferry", {}),
        "ferry direct": (ferry, f"{ferry.ts_inference}/predictions/ferry", key(ferry)),
        "stock direct": (stock, f"{stock.ts_inference}/predictions/stock", key(stock)),
    }


def served_rows(
    servers: dict[str, ServedModel],
    module: Callable[[torch.Tensor], Any],
    bodies: list[bytes],
    batch: int,
    args: argparse.Namespace,
) -> tuple[list[Row], list[float]]:
    """Rounds of every target (and the ceiling) in turn, so a burst of other load hits one
    round of each rather than all of one."""
    paths = targets(servers)
    meters = {name: CpuMeter(served) for name, served in servers.items()}
    for _, url, headers in paths.values():
        load(url, headers, bodies, 32, JIT_WARMUP_SECONDS)
    rows = {(t, c): Row(t, batch, c) for c in CONCURRENCY for t in paths}
    ceilings = []
    for concurrency in CONCURRENCY:
        for _ in range(args.rounds):
            ceilings.append(ceiling(module, bodies, batch, args.ceiling_seconds))
            for target, (served, url, headers) in paths.items():
                meter = meters[served.name]
                got = sample(url, headers, meter, bodies, concurrency, args)
                rows[target, concurrency].samples.append(got)
        print(f"  batch {batch} concurrency {concurrency} done")
    for row in rows.values():
        row.ceiling = statistics.median(ceilings)
    return list(rows.values()), ceilings


# ---------------------------------------------------------------------------- report


def busy_processes(seconds: float = 2.0) -> str:
    """The processes using more than 2 % of a core right now (before the benchmark starts)."""
    processes = list(psutil.process_iter(["name"]))
    for process in processes:
        with suppress(psutil.Error):
            process.cpu_percent(None)
    time.sleep(seconds)
    busy = []
    for process in processes:
        try:
            share = process.cpu_percent(None)
        except psutil.Error:
            continue
        if share > 2 and process.pid != os.getpid():
            busy.append((share, process.info["name"]))
    busy.sort(reverse=True)
    return ", ".join(f"{name} {share:.0f}%" for share, name in busy) or "none above 2%"


def print_table(rows: list[Row], ceilings: dict[int, list[float]]) -> None:
    print()
    print("req/s: median of the rounds; p50/p99 over all rounds; served/ceiling: req/s over the")
    print("median in-process ceiling at the same batch size; cpu ms/req: CPU time per answered")
    print("request of the worker, TorchServe's Java frontend, Ferry's front (the launcher) and")
    print("the load generator; others: CPU used by the rest of the machine or stolen by the")
    print("hypervisor meanwhile, % of one core")
    print(
        f"{'target':16} {'batch':>5} {'conc':>4} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'served/ceiling':>14} | cpu ms/req {'worker':>6} {'java':>5} "
        f"{'front':>5} {'client':>6} | {'others':>6}"
    )
    for row in rows:
        errors = sum(s.errors for s in row.samples)
        print(
            f"{row.target:16} {row.batch:5} {row.concurrency:4} {row.rps:6.0f} "
            f"{row.latency_ms(0.5):7.1f} {row.latency_ms(0.99):7.1f} {errors:6} "
            f"{row.rps / row.ceiling:14.2f} | {'':10} {row.cpu_ms('worker'):6.2f} "
            f"{row.cpu_ms('java'):5.2f} {row.cpu_ms('front'):5.2f} {row.cpu_ms('client'):6.2f} "
            f"| {row.others_pct:5.0f}%"
        )
    for batch, measured in ceilings.items():
        print(
            f"in-process ceiling, batch {batch}: median {statistics.median(measured):.0f} req/s "
            f"(min {min(measured):.0f}, max {max(measured):.0f}, {len(measured)} rounds)"
        )


def print_goal(rows: list[Row]) -> None:
    for row in rows:
        if row.batch == max(BATCHES) and row.concurrency == max(CONCURRENCY):
            ratio = row.rps / row.ceiling
            verdict = "met" if ratio >= GOAL else "NOT met"
            print(
                f"goal, {row.target}, batch {row.batch}, concurrency {row.concurrency}: "
                f"{ratio:.2f} of the ceiling (goal {GOAL}): {verdict}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="measured windows per row")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per window")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured, before each")
    parser.add_argument("--ceiling-seconds", type=float, default=1.0)
    args = parser.parse_args()
    # SIGTERM must unwind through `serving()`: TorchServe runs in its own process group and
    # would outlive a benchmark killed without stopping it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    threads = threads_per_worker(1, cpu_budget())
    torch.set_num_threads(threads)
    print(f"machine: {len(os.sched_getaffinity(0))} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"busy before start: {busy_processes()}")
    print(
        "the load generator (this process, aiohttp) shares the CPUs with TorchServe's Java "
        "frontend, its worker and Ferry's front: see the cpu ms/req columns"
    )
    bodies = request_bodies()
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as work:
        root = Path(work)
        export_file, torchscript_file = save_model(root)
        module = torch.export.load(export_file).module()
        print(
            f"model: MLP {FEATURES}-{'-'.join([str(HIDDEN)] * DEPTH)}-{OUTPUTS}, "
            f"{threads} torch thread(s) per worker and in-process; forward "
            + ", ".join(f"batch {b}: {forward_ms(module, b):.2f} ms" for b in BATCHES)
        )
        archives = {
            "ferry": ferry_archive(export_file, root / "pkg"),
            "stock": stock_archive(torchscript_file, root / "pkg"),
        }
        rows: list[Row] = []
        ceilings: dict[int, list[float]] = {}
        for batch in BATCHES:
            with serving(root, archives, batch) as servers:
                batch_rows, ceilings[batch] = served_rows(servers, module, bodies, batch, args)
            rows += batch_rows
    print_table(rows, ceilings)
    print_goal(rows)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
