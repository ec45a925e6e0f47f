"""`make cluster` (scripts/cluster.sh) in the system suite: three PostgreSQL nodes under Patroni with
synchronous replication, two web nodes, HAProxy in front. The primary lost as a machine is lost
(its Patroni and its postmaster killed together) under a read loop and during an ETL run; one web
node killed under a request loop; a client at twice its tier's rate through the balancer; requests
without a key limited by the client's own address.
SYNTHETIC rows (a made-up coin's history) only, in the cluster's own databases."""
import concurrent.futures
import datetime
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from kasparro_tooling import ROOT, RequestLoop, free_port

CLUSTER = ROOT / "scripts" / "cluster.sh"
SAMPLES_CSV = ROOT.parent / "shared" / "samples" / "csv"


class Cluster:
    def __init__(self, directory: Path):
        self.dir = directory
        self.csv_dir = directory / "csv"
        self.csv_dir.mkdir()
        for path in SAMPLES_CSV.glob("*.csv"):
            (self.csv_dir / path.name).write_bytes(path.read_bytes())
        self.env = {**os.environ, "CLUSTER_DIR": str(directory), "REPLAY": "1", "SYNC": "1",
                    "BALANCER_PORT": str(free_port()), "CSV_SOURCE_DIR": str(self.csv_dir),
                    "BIN_DIR": os.environ.get("BIN_DIR", str(ROOT / ".build" / "release"))}

    def sh(self, *args: str, check: bool = True, env: "dict | None" = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLUSTER), *args], env={**self.env, **(env or {})}, check=check,
                              capture_output=True, text=True, timeout=600)

    @property
    def settings(self) -> dict:
        return dict(line.split("=", 1) for line in self.sh("env").stdout.splitlines() if "=" in line)

    def url(self, path: str) -> str:
        return self.settings["BALANCER_URL"] + path

    def key(self, name: str = "bench-api-key") -> str:
        return (self.dir / name).read_text().strip()

    def sql(self, query: str) -> str:
        return self.sh("psql-admin", "-At", "-c", query).stdout.strip()

    def rest(self, node: int, path: str) -> int:
        try:
            return requests.get(f"http://127.0.0.1:{self.settings[f'REST_PORT_{node}']}{path}", timeout=2).status_code
        except requests.RequestException:
            return 0

    def leader(self) -> "int | None":
        return next((i for i in (1, 2, 3) if self.rest(i, "/primary") == 200), None)


@pytest.fixture(scope="module")
def cluster():
    directory = Path(tempfile.mkdtemp(prefix="kasparro-cluster-"))
    c = Cluster(directory)
    try:
        c.sh("up")
        yield c
    finally:
        if os.environ.get("KEEP"):  # KEEP=1: the cluster stays up for a look (cluster.sh down later)
            print(f"cluster kept: CLUSTER_DIR={directory}")
        else:
            c.sh("down", "--discard", check=False)
            subprocess.run(["rm", "-rf", str(directory)])


def Loop(cluster: Cluster, keys: "list[str]", path_of=lambda rng: "/data?page_size=5") -> RequestLoop:
    """Clients GETting through the balancer until stopped, each with its own key (the keys hash to
    both web nodes); every answer that is not a 200 is kept with its path and body."""
    settings = cluster.settings
    sessions, rngs = [requests.Session() for _ in keys], [random.Random(i) for i in range(len(keys))]
    for session, key in zip(sessions, keys):
        session.headers["x-api-key"] = key

    def fetch(i: int):
        path = path_of(rngs[i])
        response = sessions[i].get(settings["BALANCER_URL"] + path, verify=settings["BALANCER_CA"], timeout=15)
        return response.status_code, f"{path} {response.text[:200]}"

    return RequestLoop(fetch, len(keys))


def add_keys(cluster: Cluster, count: int, tier: str) -> "list[str]":
    """`count` new API keys of `tier` on every web node (the same map on each), nginx reloaded."""
    keys = [os.urandom(24).hex() for _ in range(count)]
    for node in (1, 2):
        with open(cluster.dir / f"web-{node}" / "nginx" / "api-keys.map", "a") as f:
            for key in keys:
                f.write(f'"{key}" "test-{key[:8]}:{tier}";\n')
        cluster.sh("web", str(node), "nginx-start")
    # A reload ends the old workers (which know only the old keys) when they are idle.
    for key in keys:
        accepted = lambda: requests.get(cluster.url("/data?page_size=1"), headers={"x-api-key": key},
                                        verify=cluster.settings["BALANCER_CA"], timeout=15).status_code != 401
        deadline = time.monotonic() + 10
        while not accepted() and time.monotonic() < deadline:
            time.sleep(0.2)
    time.sleep(2.5)  # the standard tier's burst of 40 refills at 20/s
    return keys


def uncached(rng: random.Random) -> str:
    day = datetime.date(2018, 1, 1) + datetime.timedelta(days=rng.randint(0, 2000))
    return f"/data?page_size=5&since={day}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"


def grow_synthetic_coin(cluster: Cluster, rows: int) -> int:
    """SYNTHETIC: `rows` more daily rows of a made-up coin in the cluster's CSV copy; returns the total."""
    path = cluster.csv_dir / "coin_ClusterSynthetic.csv"
    existing = path.read_text().splitlines()[1:] if path.exists() else []
    with open(path, "a") as f:
        if not existing:
            f.write("SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\n")
        for n in range(len(existing) + 1, len(existing) + rows + 1):
            day = datetime.datetime(2010, 1, 1) + datetime.timedelta(hours=n)
            f.write(f"{n},Cluster Synthetic,CLSYN,{day:%d-%m-%Y %H:%M},1.1,0.9,1,1,{n},{n * 10}\n")
    return len(existing) + rows


def test_the_primary_lost_under_reads_and_during_an_etl_run(cluster):
    keys = add_keys(cluster, 4, "high")
    total = grow_synthetic_coin(cluster, 30000)
    old = cluster.leader()
    assert old, "no primary"
    node_dir = cluster.dir / "pg" / f"node-{old}"
    count = lambda: int(cluster.sql("SELECT count(*) FROM market_records WHERE symbol = 'CLSYN'") or 0)
    with Loop(cluster, keys, path_of=uncached) as loop:
        etl = subprocess.Popen([str(CLUSTER), "etl"], env={**cluster.env, "ETL_BATCH_SIZE": "200"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while count() < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        committed = count()
        assert 0 < committed < total, f"the run was not caught in the middle ({committed} of {total})"
        # The machine is lost: Patroni and its postmaster at once (Patroni alone would restart it).
        patroni = int((cluster.dir / "patroni" / f"patroni-{old}.pid").read_text())
        postmaster = int((node_dir / "postmaster.pid").read_text().split()[0])
        lost = time.monotonic()
        os.kill(patroni, signal.SIGKILL)
        os.kill(postmaster, signal.SIGKILL)
        new = None
        while time.monotonic() - lost < 60 and not new:
            new = next((i for i in (1, 2, 3) if i != old and cluster.rest(i, "/primary") == 200), None)
            time.sleep(0.2)
        failover = time.monotonic() - lost
        etl.communicate(timeout=300)
        time.sleep(2)
    print(f"failover: node {old} lost, node {new} primary after {failover:.1f} s; {loop.ok} reads ok, "
          f"{len(loop.failed)} failed; {committed} synthetic rows committed before the loss")
    assert new and failover <= 30, f"no new primary within 30 s ({failover:.1f} s)"
    assert loop.failed == [] and loop.ok > 100, loop.failed[:5]
    # Synchronous replication: every batch committed before the loss is on the new primary.
    assert count() >= committed
    # The next run ends exact: every row once, none missing.
    cluster.sh("etl", env={"ETL_BATCH_SIZE": "200"})
    assert count() == total
    assert cluster.sql("SELECT count(*) - count(DISTINCT observed_at) FROM market_records WHERE symbol = 'CLSYN'") == "0"
    body = requests.get(cluster.url("/data?symbol=clsyn&page_size=1"), headers={"x-api-key": keys[0]},
                        verify=cluster.settings["BALANCER_CA"], timeout=15).json()
    assert body["total"] == total
    # The old node comes back as a standby of the new primary (pg_rewind when it must).
    cluster.sh("node-start", str(old))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and cluster.rest(old, "/replica") != 200:
        time.sleep(1)
    assert cluster.rest(old, "/replica") == 200, "the old primary did not rejoin as a standby"
    streaming = cluster.sql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
    assert streaming == "2", f"{streaming} standbys streaming from the new primary"


def test_a_web_node_killed_under_load_fails_no_request(cluster):
    keys = add_keys(cluster, 12, "high")  # all twelve on one node: 1 run in 2,048
    web1 = cluster.dir / "web-1"
    access_log = web1 / "log" / "nginx-access.log"
    with Loop(cluster, keys, path_of=uncached) as loop:
        deadline = time.monotonic() + 30
        while loop.ok < 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        deadline = time.monotonic() + 5  # nginx writes its access log every second
        while len(access_log.read_text().splitlines()) < 50 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(access_log.read_text().splitlines()) >= 50, "web node 1 served nothing before its loss"
        # The machine is lost: nginx (master and workers) and the responders, all at once.
        master = int((web1 / "nginx" / "nginx.pid").read_text())
        workers = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
        responders = [int(p.read_text()) for p in (web1 / "sock").glob("api-*.pid")]
        for pid in [master, *map(int, workers), *responders]:
            os.kill(pid, signal.SIGKILL)
        served_before = loop.ok
        time.sleep(5)
    print(f"web node 1 killed: {loop.ok} requests ok ({loop.ok - served_before} after the kill), {len(loop.failed)} failed")
    assert loop.failed == [] and loop.ok - served_before > 50, loop.failed[:5]
    cluster.sh("web", "1", "api-start")
    cluster.sh("web", "1", "nginx-start")


def test_a_client_at_twice_its_rate_is_limited_as_on_one_node(cluster):
    """Standard tier: 20 requests/s, burst 40. A client sending 40/s for 6 s through the balancer
    gets the 429s it would get from one nginx, since its key always reaches the same web node: one
    node lets through the burst and then 20/s (40 + 20 × 6 = 160 of 240, a third limited); two
    nodes counting the key apart would let all 240 through."""
    key = add_keys(cluster, 1, "standard")[0]
    session = requests.Session()
    session.headers["x-api-key"] = key
    ca = cluster.settings["BALANCER_CA"]
    url = cluster.url("/data?page_size=1")
    started = time.monotonic()

    def send(i: int) -> "int | str":
        time.sleep(max(0.0, started + i / 40 - time.monotonic()))
        response = session.get(url, verify=ca, timeout=15)
        return response.status_code if response.status_code in (200, 429) else f"{response.status_code} {response.text[:200]}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(240)))
    elapsed = time.monotonic() - started
    limited = statuses.count(429) / len(statuses)
    expected = 1 - min(240, 40 + 20 * elapsed) / 240
    print(f"twice the rate through the balancer: {statuses.count(200)} ok, {statuses.count(429)} limited "
          f"({limited:.0%}; one node: {expected:.0%}) in {elapsed:.1f} s")
    assert set(statuses) <= {200, 429}, [s for s in statuses if s not in (200, 429)]
    assert elapsed < 7.5, f"the client could not send at twice the rate ({elapsed:.1f} s for 240 requests)"
    assert abs(limited - expected) <= 0.1, f"{limited:.0%} limited, one node would limit {expected:.0%}"


def test_requests_without_a_key_are_limited_by_the_clients_address(cluster):
    """The web nodes see each client's own address (the PROXY protocol from the balancer), so the
    per-IP limit for requests without a key (5/s, burst 10) counts each client apart, not the
    balancer: a client at 127.0.0.5 is limited, one at 127.0.0.6 right after it is not yet."""
    def statuses(source: str, count: int) -> "list[str]":
        targets = [arg for _ in range(count) for arg in ("-o", "/dev/null", cluster.url("/data"))]
        out = subprocess.run(["curl", "-s", "--interface", source, "--cacert", cluster.settings["BALANCER_CA"],
                              "-w", "%{http_code}\\n", *targets],
                             capture_output=True, text=True, timeout=60).stdout.split()
        assert len(out) == count, out
        return out

    first = statuses("127.0.0.5", 30)
    second = statuses("127.0.0.6", 5)
    print(f"without a key: 127.0.0.5 {first.count('401')} × 401, {first.count('429')} × 429; "
          f"127.0.0.6 {second.count('401')} × 401, {second.count('429')} × 429")
    assert first.count("429") >= 10 and first[0] == "401", first
    assert second == ["401"] * 5, second
    logs = lambda: "".join((cluster.dir / f"web-{n}" / "log" / "nginx-access.log").read_text() for n in (1, 2))
    deadline = time.monotonic() + 5  # nginx writes its access log every second
    while time.monotonic() < deadline and not ('"remote_addr":"127.0.0.5"' in logs() and '"remote_addr":"127.0.0.6"' in logs()):
        time.sleep(0.2)
    assert '"remote_addr":"127.0.0.5"' in logs() and '"remote_addr":"127.0.0.6"' in logs()


def test_cluster_down_leaves_no_process_and_no_slot(cluster):
    leader = cluster.leader()
    assert leader
    slots = cluster.sql("SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots")
    assert len(slots.split(",")) == 2, slots  # one per standby, on the primary
    cluster.sh("down")
    left = subprocess.run(["pgrep", "-af", str(cluster.dir)], capture_output=True, text=True).stdout
    assert left == "", f"processes left behind:\n{left}"
    # The slots lived in the nodes' data directories, the leader key in etcd's: both are gone.
    assert not (cluster.dir / "pg").exists() and not (cluster.dir / "etcd").exists()
