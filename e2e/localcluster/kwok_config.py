"""kwok's configuration: kwok >= 0.8 has no built-in stages, so we ship them."""

from pathlib import Path

FERRY_STAGES = Path(__file__).parent / "stages"


def write_kwok_config(upstream_stages: Path, dest: Path) -> Path:
    """Upstream default stages (copied by build.sh) plus Ferry's failure-injection stages."""
    stage_files = sorted(upstream_stages.glob("*.yaml")) + sorted(FERRY_STAGES.glob("*.yaml"))
    dest.write_text("\n---\n".join(f.read_text() for f in stage_files))
    return dest
