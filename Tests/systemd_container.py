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
ACME_SERVER = "https://localhost:14000/dir"
ISSUING_ROOT = "/etc/pebble/issuing-root.pem"

# Debian's pebble, an ACME CA for tests, on the container's loopback. Its own HTTPS listener gets a
# certificate from a throwaway CA that the container trusts (so certbot talks to it, as it would
# to a private ACME CA); it validates HTTP-01 on port 80 of the name, which /etc/hosts points here.
PEBBLE = r"""
install -d /etc/pebble && cd /etc/pebble
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30     -subj '/CN=pebble listener CA (kasparro tests)' -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost     -keyout key.pem -out listener.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1
' >san.ext
openssl x509 -req -in listener.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile san.ext     -out cert.pem 2>/dev/null
cp ca.pem /usr/local/share/ca-certificates/pebble-listener-test.crt
update-ca-certificates >/dev/null 2>&1
cat >pebble-config.json <<'JSON'
{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
            "certificate": "/etc/pebble/cert.pem", "privateKey": "/etc/pebble/key.pem",
            "httpPort": 80, "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
systemd-run --unit=pebble --setenv=PEBBLE_VA_NOSLEEP=1 --setenv=PEBBLE_WFE_NONCEREJECT=0     /usr/bin/pebble -config /etc/pebble/pebble-config.json >/dev/null 2>&1
for i in $(seq 100); do curl -sf https://localhost:14000/dir >/dev/null && break; sleep 0.1; done
curl -sf https://localhost:15000/roots/0 >/etc/pebble/issuing-root.pem
"""


def acme_ca(server_name: str) -> str:
    """A script that starts PEBBLE in the container and points `server_name` at the container."""
    return PEBBLE + f"echo '127.0.0.1 {server_name}' >>/etc/hosts\n"


def adapted_install_steps(operations: str, server_name: str) -> str:
    """The install-steps block of an operations.md text, with the test's server name (acme_ca
    points it at the container), e-mail, price directory (/mnt/csv) and ACME CA (PEBBLE)
    in place of the documented ones."""
    block = operations.split("<!-- install-steps: begin -->", 1)[1].split("<!-- install-steps: end -->", 1)[0]
    block = block.split("```sh\n", 1)[1].rsplit("```", 1)[0]
    for documented in ("api.example.com", "ops@example.com", "/srv/prices"):
        assert documented in block, f"the install steps no longer name {documented}"
    block = (block.replace("api.example.com", server_name).replace("ops@example.com", "ops@kasparro.test")
             .replace("/srv/prices", "/mnt/csv"))
    lines = block.splitlines()
    setup = [i for i, line in enumerate(lines) if line.startswith("kasparro-setup ")]
    assert len(setup) == 1, block
    lines[setup[0]] += f" --acme-server {ACME_SERVER}"
    return "\n".join(lines) + "\n"


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
