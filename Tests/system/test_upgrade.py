"""The upgrade from the previous release, for real. Its package is built from its own commit (found
from the version line's history, cached by commit), installed and configured in a container booted
with systemd by that release's own install steps; then this release's package is installed over it
while a request loop runs. It fails no request, migrates before any responder restarts and leaves
no responder older than the package. And the previous release's responder answers on this
release's schema (migrations are expand-only while it may still run)."""
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from kasparro_tooling import ROOT, STACK, new_stack_env
from systemd_container import acme_ca, adapted_install_steps, booted

SAMPLES = ROOT.parent / "shared" / "samples"
CACHE = Path(os.environ.get("KASPARRO_CACHE", Path.home() / ".cache" / "kasparro")) / "releases"
VERSION_FILE = "Sources/Support/Version.swift"
SERVER_NAME = "api.kasparro.test"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


def version_at(commit: str) -> str:
    return re.search(r'kasparroVersion = "([^"]+)"', git("show", f"{commit}:{VERSION_FILE}")).group(1)


def previous_release() -> "tuple[str, str]":
    """(version, commit) of the release before this one: the last commit at that version, which is
    the parent of the commit that set this version."""
    current = version_at("HEAD")
    bumps = git("log", "--format=%H", f'-SkasparroVersion = "{current}"', "--", VERSION_FILE).splitlines()
    assert bumps, (f"no commit sets version {current} in {VERSION_FILE}: this clone lacks the history "
                   "(the system suite needs a full clone)")
    commit = git("rev-parse", bumps[-1] + "^")
    previous = version_at(commit)
    assert previous != current, f"{commit} is at {previous}, not the release before {current}"
    return previous, commit


def release_package(version: str, commit: str, work: Path) -> Path:
    """The Debian package of `commit`, built from its own source the way `make deb` builds it."""
    cached = CACHE / commit / f"kasparro_{version}_amd64.deb"
    if cached.exists():
        return cached
    source = work / f"kasparro-{version}"
    source.mkdir()
    archive = work / "source.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), commit], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(source)
    subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--package-path", str(source)],
                   check=True, capture_output=True, timeout=3600)
    out = subprocess.run([str(source / "scripts" / "build-deb.sh"), str(work / "deb")], check=True, capture_output=True,
                         text=True, env={**os.environ, "BIN_DIR": str(source / ".build" / "release"),
                                         "DOCS_BUILD": str(source / ".build-docs")}, timeout=600).stdout.strip()
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(out.splitlines()[-1], cached)
    return cached


def install_steps(commit: str) -> str:
    """The install steps as that release documented them in docs/operations.md, adapted to the
    container like this release's own (an ACME certificate from the container's pebble)."""
    return adapted_install_steps(git("show", f"{commit}:docs/operations.md"), SERVER_NAME)


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict:
    version, commit = previous_release()
    work = tmp_path_factory.mktemp("previous")
    current = ROOT / ".build-deb" / f"kasparro_{version_at('HEAD')}_amd64.deb"
    assert current.exists(), f"{current} is missing: make system-test builds it first (make deb)"
    return {"previous": release_package(version, commit, work), "previous_version": version, "commit": commit,
            "current": current}


@pytest.fixture(scope="module")
def upgraded(packages, tmp_path_factory) -> dict:
    """The previous release installed and configured, then this one installed over it under a
    request loop; what the loop saw."""
    old, new = tmp_path_factory.mktemp("old"), tmp_path_factory.mktemp("new")
    shutil.copy(packages["previous"], old)
    shutil.copy(packages["current"], new)
    for shared in (old, new):
        shared.chmod(0o755)
    with booted({"/mnt/old": old, "/mnt/new": new, "/mnt/csv": SAMPLES / "csv"}) as box:
        box.sh(acme_ca(SERVER_NAME), timeout=60)
        box.sh(install_steps(packages["commit"]), cwd="/mnt/old", timeout=600)
        assert box.sh("dpkg-query -W -f '${Version}' kasparro").stdout == packages["previous_version"]
        key = box.sh("kasparro-keys add upgrade high").stdout.strip()
        status, body = box.get("/data?page_size=2", key=key)
        assert status == 200 and json.loads(body)["total"] > 0, body
        loop = f"""
        rm -f /tmp/stop /tmp/codes
        paths=('/data?page_size=5' '/data?symbol=btc' '/stats' '/health' '/runs?limit=2' '/data?asset_id=1&page_size=3')
        i=0; end=$((SECONDS + 240))
        while [ ! -e /tmp/stop ] && [ $SECONDS -lt $end ]; do
            path=${{paths[$((i % ${{#paths[@]}}))]}}; i=$((i + 1))
            code=$(curl -sk -o /dev/null -w '%{{http_code}}' -H 'x-api-key: {key}' "https://localhost$path")
            echo "$code $path" >>/tmp/codes
        done
        """
        looping = threading.Thread(target=lambda: box.sh(loop, timeout=300))
        looping.start()
        time.sleep(2)
        installed = box.sh("apt-get install -y /mnt/new/" + packages["current"].name, timeout=600)
        time.sleep(2)
        box.sh("touch /tmp/stop")
        looping.join(timeout=60)
        codes = [line.split(" ", 1) for line in box.sh("cat /tmp/codes").stdout.splitlines()]
        yield {"box": box, "key": key, "codes": codes, "apt": installed.stdout + installed.stderr}


def test_the_upgrade_fails_no_request(upgraded):
    failed = [(code, path) for code, path in upgraded["codes"] if code != "200"]
    print(f"upgrade under a request loop: {len(upgraded['codes'])} requests, {len(failed)} failed")
    assert len(upgraded["codes"]) > 50, "the loop ran across the upgrade"
    assert failed == [], failed[:20]


def test_the_schema_is_migrated_before_any_responder_restarts(upgraded, packages):
    box = upgraded["box"]
    assert box.sh("dpkg-query -W -f '${Version}' kasparro").stdout == version_at("HEAD")
    latest = len(list((ROOT / "Sources" / "Store" / "Migrations").glob("[0-9][0-9][0-9]-*.swift")))
    assert box.sh("runuser -u postgres -- psql -d kasparro -Atc 'SELECT max(version) FROM schema_migrations'").stdout.strip() \
        == str(latest)
    migrate = dict(line.split("=", 1) for line in box.sh(
        "systemctl show -p Result -p ExecMainExitTimestampMonotonic kasparro-migrate.service").stdout.splitlines())
    assert migrate["Result"] == "success" and int(migrate["ExecMainExitTimestampMonotonic"]) > 0, migrate
    for i in (1, 2):
        started = box.sh(f"systemctl show -p ExecMainStartTimestampMonotonic --value kasparro-api@{i}.service").stdout.strip()
        if started not in ("", "0"):
            assert int(started) > int(migrate["ExecMainExitTimestampMonotonic"]), f"kasparro-api@{i} started before the migration ended"


def test_no_responder_is_older_than_the_package(upgraded):
    box = upgraded["box"]
    box.get("/data?page_size=1", key=upgraded["key"])
    exes = box.sh("for p in $(pgrep -x kasparro-api); do readlink /proc/$p/exe; done").stdout.splitlines()
    assert exes, "a responder answers after the upgrade"
    assert all(exe == "/usr/bin/kasparro-api" for exe in exes), f"a responder still runs a replaced binary: {exes}"
    assert box.sh("kasparro-api --version").stdout.strip() == version_at("HEAD")


def fcgi(sock: Path, path: str, query: str = "") -> "tuple[int, dict]":
    result = subprocess.run(["cgi-fcgi", "-bind", "-connect", str(sock)], env={
        "REQUEST_METHOD": "GET", "DOCUMENT_URI": path, "SCRIPT_NAME": path, "QUERY_STRING": query,
        "REQUEST_ID": uuid.uuid4().hex}, capture_output=True, text=True, timeout=30)
    head, _, body = result.stdout.partition("\n\n")
    status = int(re.search(r"^Status: (\d+)", head, re.M).group(1))
    return status, json.loads(body)


def test_the_previous_release_answers_on_the_new_schema(packages, tmp_path):
    """Expand-only: the previous release's responder, on a database this release migrated and loaded,
    answers every endpoint as this release's does (figures equal; formatting may differ)."""
    old_root = tmp_path / "old"
    subprocess.run(["dpkg-deb", "-x", str(packages["previous"]), str(old_root)], check=True)
    run_dir = Path(tempfile.mkdtemp(prefix="kasparro-previous-"))  # the postgres user must reach it
    run_dir.chmod(0o755)
    env = new_stack_env(run_dir, BIN_DIR=str(ROOT / ".build" / "release"), CSV_SOURCE_DIR=str(SAMPLES / "csv"))
    sh = lambda *args: subprocess.run([str(STACK), *args], env=env, check=True, capture_output=True, text=True)
    responders = []
    try:
        sh("pg-start")
        sh("db-setup")
        sh("migrate")
        sh("etl", "--source", "csv")
        api_url = f"postgresql://kasparro_api@127.0.0.1:{env['PG_PORT']}/kasparro"
        socks = {}
        for name, binary in (("previous", old_root / "usr" / "bin" / "kasparro-api"),
                             ("current", ROOT / ".build" / "release" / "kasparro-api")):
            socks[name] = tmp_path / f"{name}.sock"
            responders.append(subprocess.Popen([str(binary), "--socket", str(socks[name]), "--threads", "2"],
                                               env={**env, "DATABASE_URL": api_url, "PGPASSFILE": str(run_dir / "pgpass")},
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not all(s.exists() for s in socks.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        volatile = {"request_id", "api_latency_ms"}
        for path, query in (("/data", "page_size=3"), ("/data", "symbol=btc&since=2020-01-01"), ("/data", "asset_id=1&page=2"),
                            ("/data", "source=csv&limit=5&offset=100"), ("/stats", ""), ("/runs", "limit=3"),
                            ("/compare-runs", "source=csv"), ("/health", "")):
            answers = {name: fcgi(sock, path, query) for name, sock in socks.items()}
            assert answers["previous"][0] == 200, (path, query, answers["previous"])
            assert answers["current"][0] == 200, (path, query, answers["current"])
            if path == "/health":
                continue  # database latency and ages move between the two calls
            same = [{k: v for k, v in answer.items() if k not in volatile} for _, answer in answers.values()]
            assert same[0] == same[1], (path, query)
    finally:
        for process in responders:
            process.terminate()
            process.wait(timeout=10)
        subprocess.run([str(STACK), "pg-stop"], env=env, capture_output=True)
        shutil.rmtree(run_dir, ignore_errors=True)
