"""The operator's path on a real systemd: the .deb installed in a Debian 12 container booted with
systemd as PID 1 (podman, no network), configured by the install steps of docs/operations.md run as written,
then socket activation, the ETL unit and timer, the journal, a restart under load, the security
rating, an upgrade and a purge, all for real."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, SAMPLES
from systemd_container import booted

DEB_DIR = ROOT / ".build-deb"


def version() -> str:
    text = (ROOT / "Sources" / "Support" / "Version.swift").read_text()
    return re.search(r'kasparroVersion = "([^"]+)"', text).group(1)


def install_steps() -> str:
    operations = (ROOT / "docs" / "operations.md").read_text()
    block = operations.split("<!-- install-steps: begin -->", 1)[1].split("<!-- install-steps: end -->", 1)[0]
    return block.split("```sh\n", 1)[1].rsplit("```", 1)[0]


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    deb = DEB_DIR / f"kasparro_{version()}_amd64.deb"
    assert deb.exists(), f"{deb} is missing: make test builds it first (make deb)"
    upgrade = tmp_path_factory.mktemp("upgrade")
    subprocess.run([str(ROOT / "scripts" / "build-deb.sh"), str(upgrade)], check=True, capture_output=True,
                   env={**os.environ, "VERSION": version() + "+upgrade1"})
    return deb, next(upgrade.glob("*.deb"))


@pytest.fixture(scope="module")
def container(packages, tmp_path_factory):
    deb, upgrade = packages
    pkg = tmp_path_factory.mktemp("pkg")
    shutil.copy(deb, pkg)
    for shared in (pkg, upgrade.parent):  # readable by the container's postgres user too
        shared.chmod(0o755)
    with booted({"/mnt/pkg": pkg, "/mnt/upgrade": upgrade.parent, "/mnt/csv": SAMPLES / "csv"}) as box:
        yield box


@pytest.fixture(scope="module")
def installed(container):
    """The install steps of docs/operations.md, as written, with the sample CSV files as the price histories."""
    container.sh("PRICES=/mnt/csv\n" + install_steps(), cwd="/mnt/pkg", timeout=600)
    key = container.sh("kasparro-keys add smoke high").stdout.strip()  # the restart test sends ~50 requests a second
    assert re.fullmatch(r"[0-9a-f]{48}", key)
    return key


def test_socket_activation_and_keys(container, installed):
    before = [container.sh(f"systemctl is-active kasparro-api@{i}.service || true").stdout.strip() for i in (1, 2)]
    assert "active" not in before, "no responder runs before its first connection"
    status, body = container.get("/data?page_size=2", key=installed)
    assert status == 200, body
    assert json.loads(body)["total"] > 0
    status, body = container.get("/data")
    assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"
    # The responders were started by their sockets, not by hand.
    started = [container.sh(f"systemctl is-active kasparro-api@{i}.service || true").stdout.strip() for i in (1, 2)]
    assert "active" in started


def test_etl_unit_timer_and_health(container, installed):
    show = container.sh("systemctl show -p Result -p ExecMainStatus kasparro-etl.service").stdout
    # Offline, both API sources fail: exit 2 is documented as success for the unit.
    assert "Result=success" in show and "ExecMainStatus=2" in show, show
    status, body = container.get("/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "degraded"
    assert health["etl"]["csv"]["last_run_status"] == "succeeded"
    assert health["etl"]["coinpaprika"]["last_run_status"] == "failed"
    timers = container.sh("systemctl list-timers --all kasparro-etl.timer").stdout
    line = next(l for l in timers.splitlines() if "kasparro-etl.timer" in l)
    assert not line.startswith("n/a"), f"the timer has no next run: {line}"


def test_journal_lines_are_json_without_secrets(container, installed):
    secrets = [installed] + [line.rsplit(":", 1)[1] for line in
                             container.sh("cat /etc/kasparro/etl.pgpass /etc/kasparro/api.pgpass").stdout.splitlines()]
    whole = container.sh("journalctl --no-pager -o cat").stdout
    for secret in secrets:
        assert secret not in whole
    entries = container.sh("journalctl --no-pager -o json -u kasparro-etl.service -u 'kasparro-api@*'").stdout
    own = 0
    for line in entries.splitlines():
        entry = json.loads(line)
        if entry.get("_COMM") not in ("kasparro-etl", "kasparro-api"):
            continue  # systemd's own lines ("Started …")
        own += 1
        message = entry["MESSAGE"]
        if isinstance(message, list):
            message = bytes(message).decode()
        json.loads(message)
    assert own >= 5


def test_restart_under_requests_fails_nothing(container, installed):
    script = f"""
    fails=0; total=0
    ( sleep 1; systemctl restart kasparro-api@1.service ) &
    end=$((SECONDS + 4))
    while [ $SECONDS -lt $end ]; do
        code=$(curl -sk -o /dev/null -w '%{{http_code}}' -H 'x-api-key: {installed}' 'https://localhost/data?page_size=5')
        total=$((total + 1)); [ "$code" = 200 ] || fails=$((fails + 1))
    done
    wait
    echo "$total $fails"
    """
    total, fails = map(int, container.sh(script, timeout=60).stdout.split())
    print(f"restart of kasparro-api@1 under a request loop: {total} requests, {fails} failed")
    assert total > 20 and fails == 0


def test_security_rating_of_the_running_units(container, installed):
    for unit in ("kasparro-api@1.service", "kasparro-etl.service"):
        out = container.sh(f"systemd-analyze security {unit} --no-pager | tail -n 1").stdout
        level = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
        print(f"systemd-analyze security {unit}: {level}")
        assert level <= 2.0, out


def test_upgrade_keeps_data_and_restarts(container, installed, packages):
    _, upgrade = packages
    before_rows = container.sh("runuser -u postgres -- psql -d kasparro -Atc 'SELECT count(*) FROM market_records'").stdout
    container.get("/data", key=installed)  # make sure a responder is running
    pid = container.sh("systemctl show -p MainPID --value kasparro-api@1.service").stdout.strip()
    assert pid != "0"
    container.sh(f"apt-get install -y /mnt/upgrade/{upgrade.name}", timeout=300)
    assert container.sh("dpkg-query -W -f '${Version}' kasparro").stdout == version() + "+upgrade1"
    after = container.sh("systemctl show -p MainPID --value kasparro-api@1.service").stdout.strip()
    assert after not in ("0", pid), "the upgrade restarts the running responders"
    status, body = container.get("/data?page_size=1", key=installed)
    assert status == 200
    after_rows = container.sh("runuser -u postgres -- psql -d kasparro -Atc 'SELECT count(*) FROM market_records'").stdout
    assert after_rows == before_rows and int(after_rows) > 0
    assert container.sh("systemctl is-enabled kasparro-etl.timer").stdout.strip() == "enabled"


def test_purge_removes_units_and_settings_but_not_the_database(container, installed):
    container.sh("apt-get purge -y kasparro", timeout=300)
    gone = container.sh("ls /lib/systemd/system/kasparro-* /etc/kasparro 2>&1 || true").stdout
    assert "No such file" in gone and "kasparro-api@.service" not in gone.replace("cannot access", "")
    assert container.sh("(systemctl list-unit-files 'kasparro*' --no-legend || true) | wc -l").stdout.strip() == "0"
    assert container.sh("pgrep -c kasparro || true").stdout.strip() == "0", "purge stops every kasparro process"
    links = container.sh("find /etc/systemd/system -name 'kasparro*' | wc -l").stdout.strip()
    assert links == "0", "no enablement link is left behind"
    rows = container.sh("runuser -u postgres -- psql -d kasparro -Atc 'SELECT count(*) FROM market_records'").stdout
    assert int(rows) > 0
