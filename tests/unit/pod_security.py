"""The Pod Security `restricted` profile as a checklist over a pod spec (for unit tests).

The cluster tier checks the same thing with the real admission plugin; this catches a
violation at build time, before any cluster exists.
"""

from typing import Any

ALLOWED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    problems = [f"{flag} is set" for flag in ("hostNetwork", "hostPID", "hostIPC") if pod.get(flag)]
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} uses {sorted(kinds)}")
    pod_context = pod.get("securityContext", {})
    for sysctl in pod_context.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"unsafe sysctl {sysctl['name']}")
    containers = [
        *pod.get("initContainers", []),
        *pod.get("containers", []),
        *pod.get("ephemeralContainers", []),
    ]
    for container in containers:
        problems.extend(f"{container['name']}: {p}" for p in _container(container, pod_context))
    return problems


def _container(container: dict[str, Any], pod_context: dict[str, Any]) -> list[str]:
    context = container.get("securityContext", {})
    problems = []
    if context.get("privileged"):
        problems.append("privileged")
    capabilities = context.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []):
        problems.append("does not drop ALL capabilities")
    if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
        problems.append("adds capabilities")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
        problems.append("runAsNonRoot is not true")
    if 0 in (context.get("runAsUser"), pod_context.get("runAsUser")):
        problems.append("runs as uid 0")
    seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
    if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("no RuntimeDefault or Localhost seccomp profile")
    if context.get("procMount", "Default") != "Default":
        problems.append("non-default procMount")
    if any(port.get("hostPort") for port in container.get("ports", [])):
        problems.append("uses a hostPort")
    return problems
