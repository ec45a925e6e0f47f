"""A Debian 12 container booted with systemd as PID 1 (podman, no network), for the tests of the
package under a real systemd: the integration suite's and the system suite's."""
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Container:
    """A running container, driven through `podman exec`."""

    def __init__(self, name: str):
        self.name = name

    def sh(self, script: str, check: bool = True, timeout: float = 300, cwd: str = "/") -> subprocess.CompletedProcess:
        result = subprocess.run(["podman", "exec", "-w", cwd, self.name, "bash", "-euo", "pipefail", "-c", script],
                                text=True, capture_output=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"in the container, exit {result.returncode}:\n{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
        return result

    def get(self, path: str, key: "str | None" = None) -> "tuple[int, str]":
        header = f"-H 'x-api-key: {key}'" if key else ""
        out = self.sh(f"curl -sk -o /tmp/body -w '%{{http_code}}' {header} https://localhost{path}; echo; cat /tmp/body").stdout
        status, _, body = out.partition("\n")
        return int(status), body


def cached_rootfs() -> Path:
    """The cached Debian 12 root filesystem (scripts/systemd-rootfs.sh builds it once)."""
    for tool in ("podman", "runc", "debootstrap"):
        assert shutil.which(tool), f"{tool} is installed by make deps"
    return Path(subprocess.run([str(ROOT / "scripts" / "systemd-rootfs.sh")], check=True, capture_output=True,
                               text=True, timeout=900).stdout.strip())


@contextlib.contextmanager
def booted(mounts: "dict[str, Path]", rootfs: "Path | None" = None, boot_timeout: float = 60):
    """A container of the cached root filesystem (under a throwaway overlay), or of `rootfs` as it
    is, with each host directory of `mounts` read-only at its path, once systemd says it is up;
    removed at the end (unless KEEP_SYSTEMD_CONTAINER is set)."""
    root = f"{cached_rootfs()}:O" if rootfs is None else str(rootfs)
    volumes = []
    for inside, host in mounts.items():
        volumes += ["-v", f"{host}:{inside}:ro"]
    name = "kasparro-systemd-" + uuid.uuid4().hex[:8]
    started = subprocess.run(
        ["podman", "run", "-d", "--name", name, "--runtime", "runc", "--systemd=always", "--network=none",
         "--cap-add=SYS_ADMIN", "--cap-add=NET_ADMIN", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
         *volumes, "--rootfs", root, "/sbin/init"], text=True, capture_output=True)
    assert started.returncode == 0, f"podman could not start a systemd container: {started.stderr}"
    box = Container(name)
    try:
        deadline = time.monotonic() + boot_timeout
        while True:
            state = box.sh("systemctl is-system-running --wait || true", check=False).stdout.strip()
            if state in ("running", "degraded") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert state in ("running", "degraded"), f"systemd did not come up: {state}"
        yield box
    finally:
        if os.environ.get("KEEP_SYSTEMD_CONTAINER"):
            print(f"container kept: {name}")
        else:
            subprocess.run(["podman", "rm", "-f", "-t", "2", name], capture_output=True)
