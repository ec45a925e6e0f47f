"""The cloud recipe booted for real: a clean copy of the Debian 12 root filesystem with cloud-init
enabled and deploy/cloud-init.yaml as its NoCloud user-data (only the values of its settings file
changed: the package from a path, since the container is offline, a self-signed certificate for
localhost, the sample price histories), booted with systemd; it ends serving /health, behind the
recipe's firewall, with the first client key in a 0600 file that no log has seen."""
import json
import re
import subprocess
import time

import pytest
import yaml

from conftest import ROOT, SAMPLES
from systemd_container import booted, cached_rootfs

RECIPE = ROOT / "deploy" / "cloud-init.yaml"


def version() -> str:
    return re.search(r'kasparroVersion = "([^"]+)"', (ROOT / "Sources/Support/Version.swift").read_text()).group(1)


def user_data(deb_name: str) -> str:
    """The recipe with its settings file's values set for this offline test; nothing else changes."""
    text = RECIPE.read_text()
    assert text.startswith("#cloud-config\n")
    config = yaml.safe_load(text)
    settings = next(f for f in config["write_files"] if f["path"] == "/etc/kasparro-deploy.env")
    values = {"KASPARRO_DEB": f"/mnt/pkg/{deb_name}", "SERVER_NAME": "localhost", "EMAIL": "",
              "PRICES": "/mnt/csv", "SETUP_ARGS": "--self-signed"}
    lines = []
    for line in settings["content"].splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values.pop(name)}" if name in values else line)
    assert not values, f"the recipe's settings file no longer has {sorted(values)}"
    settings["content"] = "\n".join(lines) + "\n"
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    deb = ROOT / ".build-deb" / f"kasparro_{version()}_amd64.deb"
    assert deb.exists(), f"{deb} is missing: make test builds it first (make deb)"
    work = tmp_path_factory.mktemp("nocloud")
    pkg = work / "pkg"
    pkg.mkdir()
    (pkg / deb.name).write_bytes(deb.read_bytes())
    for shared in (work, pkg):
        shared.chmod(0o755)
    # A clean root filesystem of its own: an overlay over the cached one, with cloud-init enabled.
    upper, scratch, merged = work / "upper", work / "work", work / "merged"
    for d in (upper, scratch, merged):
        d.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={cached_rootfs()},upperdir={upper},workdir={scratch}", str(merged)], check=True)
    try:
        (merged / "etc/cloud/cloud-init.disabled").unlink()
        seed = merged / "var/lib/cloud/seed/nocloud"
        seed.mkdir(parents=True)
        (seed / "user-data").write_text(user_data(deb.name))
        (seed / "meta-data").write_text("instance-id: kasparro-nocloud-test\nlocal-hostname: kasparro-test\n")
        # The container has no network to configure, and the minimal root filesystem no locales
        # package (a cloud image has both): cloud-init leaves those alone; NoCloud only.
        (merged / "etc/cloud/cloud.cfg.d/99-kasparro-test.cfg").write_text(
            "datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\nlocale: false\n")
        started = time.monotonic()
        with booted({"/mnt/pkg": pkg, "/mnt/csv": SAMPLES / "csv"}, rootfs=merged, boot_timeout=600) as box:
            status = box.sh("cloud-init status --wait --long || true", timeout=600).stdout
            elapsed = time.monotonic() - started
            print(f"NoCloud boot to the end of cloud-init: {elapsed:.1f} s")
            yield box, status
    finally:
        subprocess.run(["umount", "-l", str(merged)], check=False)


def test_the_recipe_ends_serving_health(vm):
    box, status = vm
    assert "status: done" in status, status + box.sh("tail -n 40 /var/log/cloud-init-output.log", check=False).stdout
    health = json.loads(box.sh("curl -sk https://localhost/health").stdout)
    assert health["status"] in ("ok", "degraded")
    assert health["etl"]["csv"]["last_run_status"] == "succeeded"
    assert box.sh("dpkg-query -W -f '${Status}' kasparro").stdout == "install ok installed"


def test_the_first_key_is_in_a_private_file_and_in_no_log(vm):
    box, _ = vm
    assert box.sh("stat -c '%a %U' /etc/kasparro/first-client.key").stdout.strip() == "600 root"
    key = box.sh("cat /etc/kasparro/first-client.key").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{48}", key)
    logs = box.sh("cat /var/log/cloud-init-output.log /var/log/cloud-init.log; journalctl --no-pager -o cat").stdout
    assert key not in logs and "/etc/kasparro/first-client.key" in logs
    code = box.sh(f"curl -sk -o /dev/null -w '%{{http_code}}' -H 'x-api-key: {key}' https://localhost/data?page_size=1").stdout
    assert code == "200"


def test_only_ssh_http_and_https_come_in(vm):
    box, _ = vm
    ruleset = box.sh("nft list ruleset").stdout
    assert re.search(r"type filter hook input priority filter; policy drop;", ruleset), ruleset
    assert "tcp dport { 22, 80, 443 } accept" in ruleset, ruleset
    assert box.sh("systemctl is-enabled nftables.service").stdout.strip() == "enabled"
