#!/usr/bin/env python3
"""`make soak`: the whole stack under hours of load, with faults in the middle, in a stack and
database of its own (SYNTHETIC data only: evolving API snapshots, a growing CSV file).

The ETL runs every 30 s against the fixture server answering a new snapshot on every request
(FIXTURE_EVOLVE: the recorded rows, stamped now, prices varied) and a CSV file that grows; 32
clients send a mix of cached pages, distinct uncached filters, cursor walks and /stats. At 40% of
the run one responder restarts, at 50% PostgreSQL restarts, at 60% the standby is lost (kill -9)
and comes back 20 s later. At the end it prints requests and failures (only a JSON 503 with
Retry-After inside the database restart window is allowed), exact totals against count(*), each
process's RSS and open descriptors at warm-up (10%), middle (35%) and end (in runs of an hour
or more each the median of seven readings over 30 s), the page caches' size,
and WAL and database growth per hour against the disk budget. Exit status 1 when a check fails.
Usage: DURATION=2h soak.py (DURATION: 2h, 90m, 300s; CLIENTS, default 32; KEEP=1 keeps the stack)."""
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kasparro_tooling import ROOT, STACK, filter_condition, new_stack_env, random_filters  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "samples"
ETL_INTERVAL = 30
DB_WINDOW_AFTER = 10  # seconds after PostgreSQL is back in which 503s are still allowed
TRIM_PERIOD = 30  # seconds between a responder's returns of free memory (MemoryTrim's interval)
READINGS = 7  # readings of each process's memory over one trim period, at each sample


def seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([hms]?)", text.strip())
    if not match:
        sys.exit(f"soak.py: DURATION must look like 2h, 90m or 300s, not {text!r}")
    return int(match.group(1)) * {"h": 3600, "m": 60, "s": 1, "": 1}[match.group(2)]


class Soak:
    def __init__(self, duration: int, clients: int):
        self.duration, self.clients = duration, clients
        self.run_dir = Path(tempfile.mkdtemp(prefix="kasparro-soak-"))
        self.csv_dir = self.run_dir / "csv"
        self.csv_dir.mkdir()
        for path in (SAMPLES / "csv").glob("*.csv"):
            shutil.copy(path, self.csv_dir)
        self.growing = self.csv_dir / "coin_SoakSyntheticGrowing.csv"  # SYNTHETIC, this stack only
        self.growing.write_text("SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\n")
        self.grown = 0
        self.env = new_stack_env(self.run_dir, REPLAY="1", FIXTURE_EVOLVE="1", STANDBYS="1", RESPONDERS="2",
                                 LOG_LEVEL="warning", CSV_SOURCE_DIR=str(self.csv_dir), COIN_LISTS="off")
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results = []  # (t, kind, status, retry_after, json, latency_ms, snippet)
        self.etl_runs = []  # (t, exit status, seconds)
        self.events = {}
        self.samples = {}
        self.started = 0.0

    def sh(self, *args, check=True):
        return subprocess.run([str(STACK), *args], env=self.env, check=check, capture_output=True, text=True)

    def sql(self, query: str) -> str:
        return self.sh("psql-admin", "-At", "-c", query).stdout.strip()

    def now(self) -> float:
        return time.monotonic() - self.started

    # --- the load ---
    def grow_csv(self, rows: int = 48) -> None:
        """SYNTHETIC: the next hours of a made-up coin, appended as a price history grows."""
        start = datetime.datetime(2024, 1, 1)
        with open(self.growing, "a") as out:
            for _ in range(rows):
                self.grown += 1
                when = (start + datetime.timedelta(hours=self.grown)).strftime("%d-%m-%Y %H:%M")
                price = 100 + (self.grown % 500) / 7
                out.write(f"{self.grown},Soak Synthetic Growing,SOAKSYN,{when},{price * 1.01:.4f},{price * 0.99:.4f},"
                          f"{price:.4f},{price:.4f},{1000 + self.grown},{price * 1e6:.1f}\n")

    def etl_loop(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            self.grow_csv()
            status = self.sh("etl", check=False).returncode
            self.etl_runs.append((self.now(), status, time.monotonic() - began))
            self.stop.wait(max(0.0, ETL_INTERVAL - (time.monotonic() - began)))

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        session.headers["x-api-key"] = self.key
        cached = ["/data", "/data?symbol=btc", "/data?source=csv&page_size=100", "/data?source=coingecko",
                  "/data?symbol=eth&page_size=20", "/stats"]
        while not self.stop.is_set():
            roll = rng.random()
            if roll < 0.4:
                kind, path, params = "cached", rng.choice(cached), None
            elif roll < 0.65:
                kind, path = "uncached", "/data"
                params = random_filters(rng, 1, symbols=self.symbols, assets=self.assets, low=self.low, high=self.high)[0]
                params["page_size"] = rng.choice([10, 50, 200])
            elif roll < 0.85:
                kind, path, params = "cursor", "/data", {"symbol": rng.choice(self.symbols).lower(), "page_size": 100}
            else:
                kind, path, params = "stats", "/stats", None
            pages = rng.randint(2, 5) if kind == "cursor" else 1
            for _ in range(pages):
                began = time.monotonic()
                try:
                    response = session.get(self.https + path, params=params, verify=self.cert, timeout=30)
                    status, body = response.status_code, response.text
                    retry = response.headers.get("Retry-After")
                    is_json = response.headers.get("Content-Type", "").startswith("application/json")
                except requests.RequestException as error:
                    status, body, retry, is_json = 0, str(error), None, False
                latency = (time.monotonic() - began) * 1000
                with self.lock:
                    self.results.append((self.now(), kind, status, retry, is_json, latency,
                                         "" if status == 200 else f"{path} {params} {body[:160]}"))
                if kind != "cursor" or status != 200:
                    break
                cursor = response.json().get("next_cursor")
                if not cursor:
                    break
                params = {"cursor": cursor, "page_size": 100}

    # --- observation ---
    def processes(self) -> "dict[str, int]":
        found = {}
        for pidfile in sorted((self.run_dir / "sock").glob("api-*.pid")):
            found[f"responder {pidfile.stem.split('-')[1]}"] = int(pidfile.read_text())
        nginx = int((self.run_dir / "nginx" / "nginx.pid").read_text())
        found["nginx master"] = nginx
        children = subprocess.run(["pgrep", "-P", str(nginx)], capture_output=True, text=True).stdout.split()
        for i, child in enumerate(sorted(map(int, children))):
            found[f"nginx worker {i + 1}"] = child
        for name, data in (("postgres primary", "data"), ("postgres standby", "standby-1")):
            pid_file = self.run_dir / "pg" / data / "postmaster.pid"
            if pid_file.exists():
                found[name] = int(pid_file.read_text().split()[0])
        found["fixture server"] = int((self.run_dir / "fixture.pid").read_text())
        return found

    @staticmethod
    def usage(pid: int) -> "tuple[int, int, int] | None":
        """RSS and private memory (kB: RSS without the pages shared with other processes, such as
        nginx's shared zones, which count once touched) and open descriptors."""
        try:
            rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            private = sum(int(kb) for kb in re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+)", rollup, re.M))
            return rss, private, len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, AttributeError):
            return None

    def steady_usage(self, pids: "dict[str, int]") -> "dict[str, tuple]":
        """Each process's usage as the median of READINGS readings over one trim period: a
        responder returns its allocator's free pages every 30 s (MemoryTrim), so one reading of its
        private memory lands anywhere in a ±3 MB swing (seen: 53.1 and 56.3 MB at the same 45 MB of
        heap in use)."""
        readings = {name: [] for name in pids}
        count = READINGS if self.duration >= 3600 else 1  # growth is judged on runs of an hour or more
        for i in range(count):
            for name, pid in pids.items():
                use = self.usage(pid)
                if use:
                    readings[name].append(use)
            if i < count - 1:
                time.sleep(TRIM_PERIOD / (count - 1))
        median = lambda values: sorted(values)[len(values) // 2]
        return {name: (pids[name], tuple(median([r[k] for r in found]) for k in range(3)) if found else None)
                for name, found in readings.items()}

    def sample(self, label: str) -> None:
        processes = self.steady_usage(self.processes())
        metrics = requests.get(self.https + "/metrics", verify=self.cert, timeout=10).text
        gauge = lambda name: int(float(re.search(rf"^{name} (\S+)", metrics, re.M).group(1)))
        self.samples[label] = {
            "t": self.now(),
            "processes": processes,
            "cache_bytes": gauge("kasparro_api_page_cache_bytes"),
            "cache_entries": gauge("kasparro_api_page_cache_entries"),
            "db_bytes": int(self.sql("SELECT pg_database_size(current_database())")),
            "wal_lsn": self.sql("SELECT pg_current_wal_lsn()"),
            "records": int(self.sql("SELECT count(*) FROM market_records")),
        }

    # --- faults ---
    def restart_responder(self) -> None:
        pid = int((self.run_dir / "sock" / "api-1.pid").read_text())
        self.events["responder restart"] = self.now()
        os.kill(pid, signal.SIGTERM)
        while self.usage(pid) is not None:
            time.sleep(0.05)
        self.sh("api-start")

    def restart_database(self) -> None:
        self.events["database stop"] = self.now()
        self.sh("pg-stop")
        time.sleep(5)
        self.sh("pg-start")
        self.events["database back"] = self.now()

    def lose_standby(self) -> None:
        pid = int(self.sh("standby", "pid", "1").stdout.strip())
        self.events["standby lost"] = self.now()
        os.kill(pid, signal.SIGKILL)
        time.sleep(20)
        self.sh("standby", "start", "1")
        self.events["standby back"] = self.now()

    # --- the run ---
    def run(self) -> int:
        print(f"soak: {self.duration} s, {self.clients} clients, stack in {self.run_dir} (SYNTHETIC data only)", flush=True)
        self.grow_csv()
        self.sh("up")
        self.https = f"https://localhost:{self.env['HTTPS_PORT']}"
        self.cert = str(self.run_dir / "nginx" / "tls.crt")
        self.key = (self.run_dir / "bench-api-key").read_text().strip()
        self.symbols = self.sql("SELECT DISTINCT symbol FROM market_records ORDER BY 1 LIMIT 200").split()
        self.assets = [int(a) for a in self.sql("SELECT asset_id FROM assets ORDER BY asset_id LIMIT 200").split()]
        bounds = self.sql("SELECT extract(epoch FROM min(observed_at)), extract(epoch FROM max(observed_at)) "
                          "FROM market_records").split("|")
        self.low, self.high = (datetime.datetime.fromtimestamp(float(b), datetime.timezone.utc) for b in bounds)
        self.started = time.monotonic()
        threads = [threading.Thread(target=self.etl_loop, daemon=True)]
        threads += [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(self.clients)]
        for thread in threads:
            thread.start()
        plan = [(0.10, lambda: self.sample("warm-up")), (0.35, lambda: self.sample("middle")),
                (0.40, self.restart_responder), (0.50, self.restart_database), (0.60, self.lose_standby)]
        for at, action in plan:
            time.sleep(max(0.0, at * self.duration - self.now()))
            action()
        time.sleep(max(0.0, self.duration - self.now()))
        self.stop.set()
        for thread in threads:
            thread.join(timeout=120)
        self.sample("end")
        self.sh("etl", check=False)  # one more run after the load: every source ends current
        return self.report()

    def report(self) -> int:
        problems = []
        stop_t, back_t = self.events["database stop"], self.events["database back"] + DB_WINDOW_AFTER
        total = len(self.results)
        failed = [r for r in self.results if r[2] != 200]
        allowed = [r for r in failed if stop_t <= r[0] <= back_t and r[2] == 503 and r[3] and r[4]]
        outside = [r for r in failed if r not in allowed]
        latencies = sorted(r[5] for r in self.results if r[2] == 200)
        p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0
        print(f"requests: {total:,} ({total / self.duration:,.0f}/s), p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms; "
              f"failed: {len(failed)}, of which {len(allowed)} JSON 503 with Retry-After in the database restart "
              f"window ({stop_t:.0f}–{back_t:.0f} s), {len(outside)} outside it")
        for kind in ("cached", "uncached", "cursor", "stats"):
            mine = [r for r in self.results if r[1] == kind]
            print(f"  {kind:<9} {len(mine):>9,} requests, {sum(1 for r in mine if r[2] != 200)} not 200")
        for r in outside[:5]:
            print(f"  outside the window: t={r[0]:.1f} s {r[1]} status {r[2]} {r[6]!r}")
        if outside:
            problems.append(f"{len(outside)} failed requests outside the database restart window")
        runs = [s for _, s, _ in self.etl_runs]
        print(f"ETL: {len(runs)} runs every {ETL_INTERVAL} s, exit status "
              + ", ".join(f"{status}: {runs.count(status)}" for status in sorted(set(runs)))
              + f"; events at " + ", ".join(f"{name} {t:.0f} s" for name, t in self.events.items()))

        # Exact totals: the API's against count(*) on the primary, once the standby has replayed.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.sql("SELECT pg_current_wal_lsn() = replay_lsn FROM pg_stat_replication") != "t":
            time.sleep(0.5)
        rng = random.Random(5)
        filters = random_filters(rng, 40, symbols=self.symbols, assets=self.assets, low=self.low, high=self.high)
        mismatches = 0
        session = requests.Session()
        session.headers["x-api-key"] = self.key
        for params in [{}] + filters:
            body = session.get(self.https + "/data", params={**params, "page_size": 1}, verify=self.cert, timeout=30).json()
            counted = int(self.sql("SET TimeZone = 'UTC'; SELECT count(*) FROM market_records WHERE " + filter_condition(params)))
            if body.get("total") != counted:
                mismatches += 1
                print(f"  total mismatch: {params} API {body.get('total')} count(*) {counted}")
        stats = session.get(self.https + "/stats", verify=self.cert, timeout=30).json()
        counted = int(self.sql("SELECT count(*) FROM market_records"))
        stats_total = stats.get("records_total")
        print(f"exact totals: {len(filters) + 1} /data filters against count(*), {mismatches} differ; "
              f"count(*) {counted:,}, /stats {stats_total}")
        if mismatches or stats_total != counted:
            problems.append("totals differ from count(*)")

        # Processes: RSS and descriptors at warm-up, middle and end.
        labels = ["warm-up", "middle", "end"]
        print(f"{'process':<18} " + "  ".join(f"{label + ': pid RSS / private MB, fds':>34}" for label in labels)
              + "   growth after warm-up (private memory, fds)")
        names = sorted({n for label in labels for n in self.samples[label]["processes"]})
        for name in names:
            cells, series = [], []
            for label in labels:
                pid, use = self.samples[label]["processes"].get(name, (None, None))
                cells.append(f"{pid or '-':>7} {use[0] / 1024 if use else 0:>7.1f} / {use[1] / 1024 if use else 0:>6.1f}, "
                             f"{use[2] if use else 0:>4}")
                series.append((pid, use))
            (first_pid, first), (last_pid, last) = series[0], series[-1]
            if first and last and first_pid == last_pid:
                memory_growth, fd_growth = (last[1] - first[1]) / first[1], (last[2] - first[2]) / first[2]
                growth = f"private {memory_growth:+.1%}, fds {fd_growth:+.1%}"
                # The product's processes; PostgreSQL's own, and the fixture server (test infrastructure), are shown only.
                judged = name.startswith(("responder", "nginx"))
                if self.duration >= 3600 and judged and (memory_growth > 0.05 or fd_growth > 0.05):
                    problems.append(f"{name} grew: {growth}")
            else:
                growth = "restarted during the run"
            print(f"{name:<18} " + "  ".join(cells) + f"   {growth}")
        for label in labels:
            s = self.samples[label]
            print(f"page caches at {label}: {s['cache_bytes'] / 1048576:.1f} MiB in {s['cache_entries']:,} pages")

        first, end = self.samples["warm-up"], self.samples["end"]
        hours = (end["t"] - first["t"]) / 3600
        wal = int(self.sql(f"SELECT pg_wal_lsn_diff('{end['wal_lsn']}', '{first['wal_lsn']}')"))
        grown_db, records = end["db_bytes"] - first["db_bytes"], end["records"] - first["records"]
        print(f"growth: database {grown_db / hours / 1048576:.0f} MiB/h, WAL {wal / hours / 1048576:.0f} MiB/h, "
              f"{records / hours:,.0f} records/h: {grown_db / max(records, 1):.0f} database bytes and "
              f"{wal / max(records, 1):.0f} WAL bytes a record (disk budget, docs/operations.md: 637 a CoinPaprika "
              f"and 916 a CoinGecko record; the default schedule runs every 900 s, this soak every {ETL_INTERVAL} s, "
              f"so a server grows {900 // ETL_INTERVAL}x slower than this)")
        report = ROOT / ".soak" / f"report-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
        report.parent.mkdir(exist_ok=True)
        report.write_text(json.dumps(
            {"duration": self.duration, "requests": total, "failed": len(failed), "allowed": len(allowed),
             "outside": len(outside), "mismatches": mismatches, "samples": self.samples, "events": self.events,
             "etl_runs": self.etl_runs, "problems": problems}, default=str, indent=1))
        if problems:  # the processes' logs, to find a failed request by its request id
            shutil.copytree(self.run_dir / "log", report.with_suffix(".logs"), dirs_exist_ok=True)
        print("soak: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)) + f" (report: {report}"
              + (f", logs: {report.with_suffix('.logs')}" if problems else "") + ")")
        return 1 if problems else 0

    def close(self) -> None:
        if os.environ.get("KEEP"):
            print(f"stack kept: RUN_DIR={self.run_dir} scripts/stack.sh down")
            return
        subprocess.run([str(STACK), "down", "--discard"], env=self.env, capture_output=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def main() -> int:
    soak = Soak(seconds(os.environ.get("DURATION", "2h")), int(os.environ.get("CLIENTS", "32")))
    try:
        return soak.run()
    finally:
        soak.close()


if __name__ == "__main__":
    sys.exit(main())
