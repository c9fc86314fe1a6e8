"""The Pod Security Standards' `restricted` profile (which includes `baseline`) as a checker of pod
templates, so a rendered chart can be tested against what Pod Security admission enforces.

Rules and allowed values: Kubernetes docs, "Pod Security Standards" (concepts/security/
pod-security-standards), policy version v1.25 and later; the same controls pod-security-admission
implements (k8s.io/pod-security-admission/policy). PyPI has no maintained evaluator of them.
`violations(metadata, spec)` returns one readable line per broken control; empty means admitted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# baseline "Capabilities": what a container may add beyond the runtime's default set.
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
# baseline "Sysctls": the safe set (up to v1.29's additions).
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
# baseline "SELinux": the types a pod may ask for.
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# restricted "Volume Types": the only volume sources allowed.
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir",
    "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`containers[name]`-style path, container) for containers, initContainers, ephemeralContainers."""
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name', '?')}]", container


def violations(metadata: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """Every `restricted` control the pod (template metadata and spec) breaks."""
    return baseline_violations(metadata, spec) + restricted_violations(spec)


def baseline_violations(metadata: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    found = []
    pod_context = spec.get("securityContext") or {}
    contexts = [("spec.securityContext", pod_context)] + [
        (f"{path}.securityContext", c.get("securityContext") or {}) for path, c in containers(spec)
    ]
    if (pod_context.get("windowsOptions") or {}).get("hostProcess"):
        found.append("HostProcess: spec.securityContext.windowsOptions.hostProcess is true")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(f"Host Namespaces: spec.{field} is true")
    for path, volume in ((f"spec.volumes[{v.get('name')}]", v) for v in spec.get("volumes") or []):
        if "hostPath" in volume:
            found.append(f"HostPath Volumes: {path} is a hostPath")
    for path, context in contexts:
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"HostProcess: {path}.windowsOptions.hostProcess is true")
        if context.get("privileged"):
            found.append(f"Privileged Containers: {path}.privileged is true")
        if (context.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            found.append(f"AppArmor: {path}.appArmorProfile.type is not RuntimeDefault or Localhost")
        selinux = context.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            found.append(f"SELinux: {path}.seLinuxOptions sets a user, role or type not allowed")
        if context.get("procMount") not in (None, "Default"):
            found.append(f"/proc Mount Type: {path}.procMount is not Default")
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append(f"Seccomp: {path}.seccompProfile.type is Unconfined")
    for path, container in containers(spec):
        added = set(((container.get("securityContext") or {}).get("capabilities") or {}).get("add") or [])
        if extra := sorted(added - BASELINE_CAPABILITIES):
            found.append(f"Capabilities: {path} adds {extra}, beyond the baseline set")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"Host Ports: {path} uses hostPort {port['hostPort']}")
    for name, value in ((metadata or {}).get("annotations") or {}).items():
        if (
            name.startswith(APPARMOR_ANNOTATION)
            and value != "runtime/default"
            and not value.startswith("localhost/")
        ):
            found.append(f"AppArmor: annotation {name} is {value!r}")
    for sysctl in pod_context.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(f"Sysctls: spec.securityContext.sysctls sets {sysctl.get('name')}, not a safe one")
    return found


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    found = []
    pod_context = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"Volume Types: spec.volumes[{volume.get('name')}] is {sorted(kinds)}")
    if pod_context.get("runAsUser") == 0:
        found.append("Running as Non-root user: spec.securityContext.runAsUser is 0")
    pod_non_root = pod_context.get("runAsNonRoot") is True
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    for path, container in containers(spec):
        context = container.get("securityContext") or {}
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(
                f"Privilege Escalation: {path}.securityContext.allowPrivilegeEscalation is not false"
            )
        non_root = context.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            found.append(
                f"Running as Non-root: neither spec.securityContext nor {path}.securityContext"
                " sets runAsNonRoot: true"
            )
        if context.get("runAsUser") == 0:
            found.append(f"Running as Non-root user: {path}.securityContext.runAsUser is 0")
        seccomp = (context.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(
                f"Seccomp: {path} has no RuntimeDefault or Localhost seccompProfile (pod or container)"
            )
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"Capabilities: {path}.securityContext.capabilities.drop does not include ALL")
        if extra := sorted(set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}):
            found.append(f"Capabilities: {path} adds {extra}; restricted allows only NET_BIND_SERVICE")
    return found
