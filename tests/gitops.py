"""What GitOps tools say about an object: Argo CD's health Lua and kstatus' verdict.

`argocd_health` runs `charts/ferry/argocd-health.lua` the way Argo CD does (util/lua/lua.go):
gopher-lua implements Lua 5.1, so Lua 5.1 runs it here; the script sees the global `obj`, built
from the object with every number a Lua number (a double, as Argo CD's decodeValue makes it),
and only the libraries Argo CD opens by default (base, table, package and two functions of os;
no string, math, io or debug, and strings have no methods); it must return a table whose
`status` is a health status Argo CD knows, or Argo CD reports Unknown.

`kstatus` runs the `kstatus` command (e2e/gitops/kstatus, sigs.k8s.io/cli-utils' status.Compute).
"""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lupa import lua51

from e2e.localcluster.cluster import default_cache

ROOT = Path(__file__).resolve().parent.parent
ARGOCD_HEALTH_LUA = ROOT / "charts" / "ferry" / "argocd-health.lua"
ARGOCD_STATUSES = frozenset(
    {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
)

# Runs a chunk with an environment of only what Argo CD opens (base, table, package, safe os).
_SANDBOX = """
local base = {"assert", "error", "ipairs", "next", "pairs", "pcall", "print", "rawequal",
  "rawget", "rawset", "select", "getmetatable", "setmetatable", "tonumber", "tostring", "type",
  "unpack", "xpcall", "require"}
local env = {table = table, package = package, os = {time = os.time, date = os.date}}
for _, name in ipairs(base) do env[name] = _G[name] end
env._G = env
debug.setmetatable("", nil)  -- without Lua's string library, strings have no methods
return function(source, obj)
  local chunk, err = loadstring(source, "=argocd-health.lua")
  if chunk == nil then error(err) end
  env.obj = obj
  setfenv(chunk, env)
  return chunk()
end
"""


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def _lua_value(value: Any) -> Any:
    """JSON as Argo CD hands it to Lua: numbers are doubles, null is nil."""
    if isinstance(value, dict):
        return {k: _lua_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_lua_value(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def argocd_health(obj: dict[str, Any], script: str | None = None) -> Health:
    source = ARGOCD_HEALTH_LUA.read_text() if script is None else script
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    run = lua.execute(_SANDBOX)
    result = run(source, lua.table_from(_lua_value(obj), recursive=True))
    if lua.eval("type")(result) != "table":
        raise AssertionError(f"the health script returned {result!r}, Argo CD needs a table")
    status, message = result["status"], result["message"] or ""
    if status not in ARGOCD_STATUSES:
        return Health("Unknown", "Lua returned an invalid health status")
    return Health(status, message)


def kstatus_binary() -> Path:
    found = default_cache() / "bin" / "kstatus"
    if found.is_file():
        return found
    on_path = shutil.which("kstatus")
    if on_path is None:
        raise AssertionError(f"{found} not found: run `make binaries` (e2e/gitops/build.sh)")
    return Path(on_path)


@dataclass(frozen=True)
class KStatus:
    status: str  # Current, InProgress, Failed, Terminating, ...
    message: str


def kstatus(obj_json: str) -> KStatus:
    """kstatus' verdict on one object given as JSON (e.g. `kubectl get md X -o json`)."""
    done = subprocess.run(
        [str(kstatus_binary())], input=obj_json, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kstatus failed: {done.stderr}"
    (line,) = done.stdout.splitlines()
    verdict = json.loads(line)
    return KStatus(verdict["status"], verdict["message"])
