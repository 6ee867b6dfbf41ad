"""The run directory's record of a started cluster: its processes, ports and slot."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from e2e.localcluster.processes import Component

STATE_FILE = "state.json"
LOCK_FILE = ".lock"  # held while the cluster is being started or stopped


@dataclass
class RunState:
    components: list[Component] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    slot: int | None = None  # the real node's machine-wide slot, if it has one

    @classmethod
    def load(cls, run_dir: Path) -> "RunState":
        path = run_dir / STATE_FILE
        if not path.exists():
            return cls()
        raw = json.loads(path.read_text())
        components = [
            Component(**{**c, "argv": tuple(c.get("argv", ()))}) for c in raw["components"]
        ]
        return cls(components, raw["ports"], raw.get("slot"))

    def save(self, run_dir: Path) -> None:
        raw = {
            "components": [asdict(c) for c in self.components],
            "ports": self.ports,
            "slot": self.slot,
        }
        (run_dir / STATE_FILE).write_text(json.dumps(raw, indent=2))
