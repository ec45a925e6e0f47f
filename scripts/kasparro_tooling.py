"""What the tests and the benchmarks share: free ports, a stack's environment, random /data filters.

The benchmarks import it as a sibling (`python3 scripts/bench.py` puts scripts/ on the path); the
test suites through `pythonpath` in Tests/pytest.ini."""
import datetime
import os
import random
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "scripts" / "stack.sh"
SOURCES = ("csv", "coinpaprika", "coingecko")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_stack_env(run_dir: Path, **settings: str) -> dict:
    """The environment for a stack of its own in `run_dir`: every port a free one (PostgreSQL,
    nginx, the benchmark's static server, the fixture server), then `settings`. The caller's
    DATABASE_URL never leaks in: each process of the stack gets its own."""
    env = {**os.environ, "RUN_DIR": str(run_dir)}
    for name in ("PG_PORT", "HTTPS_PORT", "HTTP_PORT", "BENCH_STATIC_PORT", "FIXTURE_PORT"):
        env[name] = str(free_port())
    env.pop("DATABASE_URL", None)
    env.update(settings)
    return env


def stack_env(env: "dict | None" = None) -> dict:
    """What `stack.sh env` says of the stack `env` names (make up's when None): ports, URLs, paths."""
    out = subprocess.run([str(STACK), "env"], capture_output=True, text=True, check=True, env=env).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def stack_process_env(env: dict) -> dict:
    """The environment for stack.sh commands on the stack `env` describes (make up's, or a benchmark's)."""
    return {**os.environ, "RUN_DIR": env["RUN_DIR"]}


def random_filters(rng: random.Random, count: int, *, symbols: list, assets: list,
                   low: datetime.datetime, high: datetime.datetime) -> "list[dict]":
    """`count` random `/data` filter combinations over the data's domain: a source, a symbol (in
    lower case: the filter is case-insensitive) or an asset, and `since`/`until` anywhere from a
    little before `low` to a little after `high`, a third of them whole days (no partial bucket at
    the edge), the rest to the second (partial buckets at both edges)."""
    span = (high - low).total_seconds()

    def moment() -> str:
        t = low + datetime.timedelta(seconds=rng.uniform(-0.05, 1.05) * span)
        if rng.random() < 0.3:
            return t.strftime("%Y-%m-%d")
        return t.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")

    combos = []
    for _ in range(count):
        params = {}
        if rng.random() < 0.4:
            params["source"] = rng.choice(SOURCES)
        if rng.random() < 0.3:
            params["symbol"] = str(rng.choice(symbols)).lower()
        elif rng.random() < 0.3:
            params["asset_id"] = rng.choice(assets)
        if rng.random() < 0.6:
            params["since"] = moment()
        if rng.random() < 0.6:
            params["until"] = moment()
        if "since" in params and "until" in params and params["since"] > params["until"]:
            params["since"], params["until"] = params["until"], params["since"]
        combos.append(params)
    return combos


def filter_condition(params: dict) -> str:
    """The SQL condition on market_records of a `/data` filter (from `random_filters`), to count
    what the API's exact total should say; instants as PostgreSQL reads them (the session's zone)."""
    conditions = ["true"]
    if "source" in params:
        conditions.append(f"source = '{params['source']}'")
    if "symbol" in params:
        conditions.append(f"symbol = upper('{params['symbol']}')")
    if "asset_id" in params:
        conditions.append(f"asset_id = {int(params['asset_id'])}")
    if "since" in params:
        conditions.append(f"observed_at >= '{params['since']}'::timestamptz")
    if "until" in params:
        conditions.append(f"observed_at < '{params['until']}'::timestamptz")
    return " AND ".join(conditions)


class RequestLoop:
    """Threads calling `fetch(thread_index)` until stopped (a `with` block); `fetch` returns a
    status code or raises. Each 200 is counted, anything else kept in `failed` as (status, detail)."""

    def __init__(self, fetch, threads: int):
        import threading
        self.fetch, self.stop = fetch, threading.Event()
        self.ok, self.failed = 0, []
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def run(self, index: int):
        while not self.stop.is_set():
            try:
                status, detail = self.fetch(index), ""
            except Exception as error:  # a failed request of any kind counts
                status, detail = repr(error), ""
            if isinstance(status, tuple):
                status, detail = status
            if status == 200:
                self.ok += 1
            else:
                self.failed.append((status, detail))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()
