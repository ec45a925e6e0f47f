"""Integration harness: a real PostgreSQL cluster, real responders and a real nginx, all in a
temporary directory on free ports, started once per test session by scripts/stack.sh."""
import contextlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest
import requests
import urllib3

from kasparro_tooling import new_stack_env

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "samples"
STACK = ROOT / "scripts" / "stack.sh"
# The newest schema migration (one file each, Sources/Store/Migrations/NNN-*.swift).
LATEST_MIGRATION = max(int(p.name[:3]) for p in (ROOT / "Sources" / "Store" / "Migrations").glob("[0-9][0-9][0-9]-*.swift"))


def pytest_configure(config):
    config.addinivalue_line("markers", "disruptive(rank): changes the shared stack for the tests after it; "
                                       "such tests run after all others, in rank order")


def pytest_collection_modifyitems(items):
    """Tests marked `disruptive(rank)` run last, ordered by rank; every other test keeps its place.
    The order is declared on the tests themselves, not implied by file names."""
    def rank(item):
        marker = item.get_closest_marker("disruptive")
        return (1, marker.args[0]) if marker else (0, 0)
    items.sort(key=rank)


class Stack:
    """The running test stack and helpers to drive it."""

    def __init__(self, run_dir: pathlib.Path):
        self.run_dir = run_dir
        self.csv_dir = run_dir / "csv"
        self.env = new_stack_env(run_dir, REPLAY="1", BIN_DIR=os.environ.get("BIN_DIR", str(ROOT / ".build" / "release")),
                                 CSV_SOURCE_DIR=str(self.csv_dir), RESPONDERS="3", LOG_LEVEL="info")
        self.bin_dir = pathlib.Path(self.env["BIN_DIR"])
        self.fixture = f"http://127.0.0.1:{self.env['FIXTURE_PORT']}"
        self.https = f"https://localhost:{self.env['HTTPS_PORT']}"
        self.pgpass = str(run_dir / "pgpass")
        self.etl_url = f"postgresql://kasparro_etl@127.0.0.1:{self.env['PG_PORT']}/kasparro"
        self.api_url = f"postgresql://kasparro_api@127.0.0.1:{self.env['PG_PORT']}/kasparro"
        self.http = requests.Session()
        # Verify TLS against the stack's own self-signed certificate.
        self.cert = str(run_dir / "nginx" / "tls.crt")

    def sh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(STACK), *args], env=self.env, check=check, text=True, capture_output=True)

    @property
    def key(self) -> str:
        return (self.run_dir / "api-key").read_text().strip()

    @property
    def bench_key(self) -> str:
        return (self.run_dir / "bench-api-key").read_text().strip()

    def get(self, path: str, key: "str | None" = "bench", **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key == "bench":
            headers["x-api-key"] = self.bench_key
        elif key:
            headers["x-api-key"] = key
        return self.http.get(self.https + path, headers=headers, timeout=10, verify=self.cert, **kwargs)

    def status(self, path: str, key: "str | None" = "bench") -> "int | None":
        """The status of one GET, or None when nginx closed the kept connection under it (a reload ends
        idle keep-alive connections; a client's retry of an idempotent GET is the answer, as browsers do)."""
        try:
            return self.get(path, key=key).status_code
        except requests.ConnectionError:
            return None

    def db_url(self, name: str, role: str = "kasparro_etl") -> str:
        return f"postgresql://{role}@127.0.0.1:{self.env['PG_PORT']}/{name}"

    def psql(self, sql: str, url: "str | None" = None, check: bool = True) -> "list[list[str]]":
        result = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", url or self.etl_url, "-c", sql],
                                env={**self.env, "PGPASSFILE": self.pgpass}, text=True, capture_output=True, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"psql failed: {result.stderr}")
        if not check:
            return result
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def psql_admin(self, sql: str, database: str = "kasparro", port: "str | None" = None) -> "list[list[str]]":
        """Runs `sql` as the cluster's superuser (pg_terminate_backend, for one), on the primary or
        on the server at `port` (a standby)."""
        result = self.sh("psql-admin", "-d", database, *(["-p", port] if port else []), "-At", "-F", "\t", "-c", sql)
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def fresh_database(self) -> str:
        """Creates an empty, migrated database and returns its name."""
        name = "t_" + uuid.uuid4().hex[:10]
        self.sh("createdb", name)
        self.etl("migrate", database=name)
        return name

    def etl(self, *args: str, database: str = "kasparro", csv_dir: "pathlib.Path | None" = None,
            env: "dict | None" = None, check: bool = True, wait: bool = True):
        run_env = {**self.env, "PGPASSFILE": self.pgpass, "DATABASE_URL": self.db_url(database),
                   "CSV_SOURCE_DIR": str(csv_dir or self.csv_dir), "ETL_TRIGGER": "test",
                   "COINPAPRIKA_BASE_URL": self.fixture + "/paprika/v1",
                   "COINGECKO_BASE_URL": self.fixture + "/gecko/api/v3", "COINGECKO_REQUESTS_PER_MINUTE": "6000",
                   # Tests script the fixture's next responses and count requests: the daily coin
                   # lists are off here unless a test turns them on (test_identity_evidence does).
                   "COIN_LISTS": "off"}
        run_env.update(env or {})
        command = [str(self.bin_dir / "kasparro-etl"), *args]
        if not wait:
            return subprocess.Popen(command, env=run_env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        result = subprocess.run(command, env=run_env, text=True, capture_output=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"kasparro-etl {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result


class Responder:
    """A kasparro-api process of a test's own on a socket of its own, asked directly over FastCGI
    (cgi-fcgi), not through nginx. Its log (stderr) is kept in `log`."""

    def __init__(self, stack: Stack, directory: pathlib.Path, database: str = "kasparro", threads: int = 4,
                 env: "dict | None" = None):
        self.sock = directory / "api.sock"
        self.log = directory / "api.log"
        run_env = {**stack.env, "DATABASE_URL": stack.db_url(database, role="kasparro_api"), "PGPASSFILE": stack.pgpass,
                   **(env or {})}
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([str(stack.bin_dir / "kasparro-api"), "--socket", str(self.sock),
                                             "--threads", str(threads)], env=run_env, stdout=log, stderr=log)
        assert wait_for(self.sock.exists, timeout=5), self.log.read_text()

    def get(self, path: str, query: str = "") -> "tuple[int, str, str]":
        """Status, head and body of one GET."""
        result = subprocess.run(["cgi-fcgi", "-bind", "-connect", str(self.sock)], env={
            "REQUEST_METHOD": "GET", "DOCUMENT_URI": path, "SCRIPT_NAME": path, "QUERY_STRING": query,
            "REQUEST_ID": uuid.uuid4().hex}, capture_output=True, text=True, timeout=30)
        head, _, body = result.stdout.partition("\n\n")  # text mode has turned \r\n into \n
        found = re.search(r"^Status: (\d+)", head, re.M)
        assert found, f"cgi-fcgi exit {result.returncode}: {result.stdout[:300]!r} {result.stderr[:300]!r}"
        return int(found.group(1)), head, body

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def responder(stack, tmp_path):
    """Starts Responder(stack, tmp_path, **options) on demand; stops every one at the end of the test."""
    started = []
    os.chmod(tmp_path, 0o755)

    def start(**options) -> Responder:
        directory = tmp_path / f"responder-{len(started)}"
        directory.mkdir()
        started.append(Responder(stack, directory, **options))
        return started[-1]

    yield start
    for one in started:
        if one.process.poll() is None:
            one.stop()


@contextlib.contextmanager
def running_stack(prefix: str, **settings: str):
    """A whole stack in a run directory of its own, `settings` added to its environment."""
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(run_dir, 0o755)
    s = Stack(run_dir)
    s.env.update(settings)
    # The real sample files, copied so tests may append to them (the originals stay untouched).
    shutil.copytree(SAMPLES / "csv", s.csv_dir)
    try:
        result = s.sh("up", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"stack up failed:\n{result.stdout}\n{result.stderr}")
        yield s
    finally:
        if os.environ.get("KEEP_TEST_RUN_DIR"):
            s.sh("down", check=False)
            print(f"test run directory kept: {run_dir}")
        else:
            s.sh("down", "--discard", check=False)
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack():
    with running_stack("kasparro-test-") as s:
        yield s


def fixture_requests(stack) -> list:
    return requests.get(stack.fixture + "/__requests", timeout=5).json()


def fixture_script(stack, steps: list) -> None:
    requests.post(stack.fixture + "/__reset", timeout=5)
    requests.post(stack.fixture + "/__script", json=steps, timeout=5)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Polls `predicate` until it returns a truthy value or `timeout` passes; returns the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
