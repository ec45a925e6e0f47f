#!/usr/bin/env python3
"""`make bench`: wrk against the running `make up` stack over HTTPS, next to two ceilings measured in
the same run: nginx serving the first /data page as a static file, and a minimal C libfcgi responder
(scripts/bench/fcgi_ceiling.c: kasparro-api's thread, poll and kept-connection structure, no work)
serving the same bytes behind the same nginx site. Every figure is the median of BENCH_ROUNDS rounds
(the cases interleaved), and each ratio is taken within one round: this machine's speed moves a lot
between runs. Then the version propagation case: how long after an ETL batch's COMMIT returned a
request can still get the old data (a real ETL run of the sample CSV files, in a database of its own)."""
import contextlib
import http.client
import json
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from kasparro_tooling import free_port, stack_env, stack_process_env

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "scripts" / "stack.sh"
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
DURATION = os.environ.get("BENCH_DURATION", "5s")
THREADS = os.environ.get("BENCH_THREADS", "2")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def validator(url: str, key: str, cert: str) -> str:
    """The page's ETag (the 304 case revalidates with it; nothing commits during the benchmark)."""
    context = ssl.create_default_context(cafile=cert)
    request = urllib.request.Request(url, headers={"x-api-key": key})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return response.headers["ETag"]


def fetch(url: str, key: str, cert: str) -> bytes:
    context = ssl.create_default_context(cafile=cert)
    request = urllib.request.Request(url, headers={"x-api-key": key})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return response.read()


UNCACHED_SCRIPT = """
-- Every request asks for a different `since`, so no two share a cached page.
counter = 0
request = function()
  counter = counter + 1
  local seconds = (counter * 7919 + math.random(0, 1000000)) % 31536000
  local since = os.date("!%Y-%m-%dT%H:%M:%SZ", 1325376000 + seconds)
  return wrk.format(nil, "/data?page_size=50&since=" .. since)
end
"""


def wrk(url: str, key: "str | None", duration: str = DURATION, script: "str | None" = None,
        headers: "tuple[str, ...]" = ()) -> dict:
    command = ["wrk", "-t", THREADS, "-c", str(CONNECTIONS), "-d", duration, "--latency", url]
    if script:
        command[1:1] = ["-s", script]
    for header in headers:
        command[1:1] = ["-H", header]
    if key:
        command[1:1] = ["-H", f"x-api-key: {key}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": latency("50"),
            "p99": latency("99"), "errors": (int(non2xx.group(1)) if non2xx else 0)
            + (sum(map(int, errors.groups())) if errors else 0)}


def start_pool(env: dict, directory: Path, port: int, processes: list, launch) -> None:
    """As many responders as the stack's pool, each made by `launch(socket path)` and appended to
    `processes`, waited for until its socket exists; then the stack's own site on `port` in front
    of them (`stack.sh bench-site-start`: same template, keys, certificate)."""
    for i in range(1, int(env["RESPONDERS"]) + 1):
        sock = directory / "sock" / f"api-{i}.sock"
        processes.append(launch(sock))
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.02)
    subprocess.run([str(STACK), "bench-site-start", str(directory), str(port)], check=True, capture_output=True,
                   env=stack_process_env(env))


@contextlib.contextmanager
def ceiling_site(env: dict, body: bytes):
    """The C ceiling responders (as many processes and threads as the stack's pool) behind the
    stack's own nginx site, on a port of its own. Yields the site's base URL."""
    directory = Path(tempfile.mkdtemp(prefix="kasparro-ceiling-"))
    os.chmod(directory, 0o755)
    binary = directory / "fcgi_ceiling"
    subprocess.run(["cc", "-O2", "-o", str(binary), str(ROOT / "scripts" / "bench" / "fcgi_ceiling.c"),
                    "-lfcgi", "-lpthread"], check=True)
    (directory / "body.json").write_bytes(body)
    (directory / "sock").mkdir()
    os.chmod(directory / "sock", 0o755)
    processes = []
    port = free_port()
    try:
        start_pool(env, directory, port, processes, lambda sock: subprocess.Popen(
            [str(binary), str(sock), str(directory / "body.json"), env["RESPONDER_THREADS"]]))
        yield f"https://localhost:{port}"
    finally:
        subprocess.run([str(STACK), "bench-site-stop", str(directory)], capture_output=True, env=stack_process_env(env))
        for process in processes:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def throughput(env: dict) -> int:
    base = f"https://localhost:{env['HTTPS_PORT']}"
    key = (Path(env["RUN_DIR"]) / "bench-api-key").read_text().strip()
    cert = str(Path(env["NGINX_DIR"]) / "tls.crt")
    first = fetch(base + "/data?page_size=50", key, cert)
    static_dir = Path(env["NGINX_DIR"]) / "static"
    static_dir.mkdir(exist_ok=True)
    (static_dir / "page.json").write_bytes(first)
    deep = json.loads(fetch(base + "/data?limit=1&offset=14999", key, cert))
    cursor = deep["next_cursor"]
    assert cursor, "need at least 15,001 records for the deep cursor benchmark"
    script = str(Path(env["NGINX_DIR"]) / "uncached.lua")
    Path(script).write_text(UNCACHED_SCRIPT)
    tag = validator(base + "/data?page_size=50", key, cert)
    with ceiling_site(env, first) as ceiling:
        cases = [
            ("static file, same bytes", f"https://localhost:{env['BENCH_STATIC_PORT']}/page.json", None, None, ()),
            ("C libfcgi ceiling, same bytes and site", ceiling + "/data?page_size=50", key, None, ()),
            ("/data first page (50)", base + "/data?page_size=50", key, None, ()),
            ("/data first page, gzip", base + "/data?page_size=50", key, None, ("Accept-Encoding: gzip",)),
            ("/data first page, br", base + "/data?page_size=50", key, None, ("Accept-Encoding: br",)),
            ("/data first page, 304 revalidation", base + "/data?page_size=50", key, None, (f"If-None-Match: {tag}",)),
            ("/data first page as CSV", base + "/data?page_size=50", key, None, ("Accept: text/csv",)),
            ("/data filtered symbol=BTC", base + "/data?symbol=BTC&page_size=50", key, None, ()),
            ("/data offset 15000", base + "/data?limit=50&offset=15000", key, None, ()),
            ("/data cursor at depth 15000", base + f"/data?page_size=50&cursor={cursor}", key, None, ()),
            ("/data uncached (distinct query each)", base + "/data", key, script, ()),
            ("/health", base + "/health", None, None, ()),
        ]
        print(f"wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION} over HTTPS, {ROUNDS} rounds (median shown); "
              f"first page body {len(first)} bytes", flush=True)
        rounds = []
        for round_number in range(ROUNDS):
            results = {}
            for name, url, case_key, case_script, headers in cases:
                wrk(url, case_key, duration="1s", script=case_script, headers=headers)  # warm-up: connections, statements
                results[name] = wrk(url, case_key, script=case_script, headers=headers)
            rounds.append(results)
            summary = "  ".join(f"{name.split(',')[0]} {r['rps']:.0f}" for name, r in results.items())
            print(f"  round {round_number + 1}: {summary}", flush=True)
    static, ceiling_name = cases[0][0], cases[1][0]
    for name in (static, ceiling_name):
        assert all(r[name]["errors"] == 0 for r in rounds), f"the {name} case failed requests: its ratios mean nothing"
    print(f"{'case':<40} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'of ceiling':>10} {'of static':>9}")
    failed = 0
    for name, *_ in cases:
        median = lambda field: statistics.median(r[name][field] for r in rounds)
        of_ceiling = statistics.median(r[name]["rps"] / r[ceiling_name]["rps"] for r in rounds) * 100
        of_static = statistics.median(r[name]["rps"] / r[static]["rps"] for r in rounds) * 100
        errors = sum(r[name]["errors"] for r in rounds)
        failed += errors
        print(f"{name:<40} {median('rps'):>8.0f} {median('p50'):>7.2f} {median('p99'):>7.2f} {errors:>6} "
              f"{of_ceiling:>9.0f}% {of_static:>8.0f}%", flush=True)
    return failed


def propagation(env: dict) -> int:
    """A real ETL run (the sample CSV files, in batches of ETL_BATCH_SIZE=100, into a database of its
    own) while clients poll the first page through nginx; for each batch, the latest start of a request
    that still got the data from before that batch, after the batch's COMMIT returned."""
    database = "kasparro_bench_propagation"
    directory = Path(tempfile.mkdtemp(prefix="kasparro-propagation-"))
    os.chmod(directory, 0o755)
    (directory / "sock").mkdir()
    os.chmod(directory / "sock", 0o755)
    csv_dir = directory / "csv"
    shutil.copytree(env["CSV_SOURCE_DIR"], csv_dir)
    etl_url = env["ETL_DATABASE_URL"].rsplit("/", 1)[0] + "/" + database
    api_url = env["API_DATABASE_URL"].rsplit("/", 1)[0] + "/" + database
    base_env = {**os.environ, "PGPASSFILE": env["PGPASSFILE"]}
    binaries = Path(env["BIN_DIR"])
    port = free_port()
    responders = []
    stop = threading.Event()
    seen: "list[tuple[float, int]]" = []
    try:
        subprocess.run([str(STACK), "createdb", database], check=True, capture_output=True, env=stack_process_env(env))
        subprocess.run([str(binaries / "kasparro-etl"), "migrate"], env={**base_env, "DATABASE_URL": etl_url},
                       check=True, capture_output=True)
        start_pool(env, directory, port, responders, lambda sock: subprocess.Popen(
            [str(binaries / "kasparro-api"), "--socket", str(sock), "--socket-mode", "666",
             "--threads", env["RESPONDER_THREADS"], "--metrics-file", str(directory / "sock" / "metrics")],
            env={**base_env, "DATABASE_URL": api_url, "LOG_LEVEL": "warning"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        key = (Path(env["RUN_DIR"]) / "bench-api-key").read_text().strip()
        context = ssl.create_default_context(cafile=str(Path(env["NGINX_DIR"]) / "tls.crt"))
        lock = threading.Lock()

        def poll():
            connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
            mine = []
            while not stop.is_set():
                started = time.time()
                connection.request("GET", "/data?page_size=1", headers={"x-api-key": key})
                response = connection.getresponse()
                body = response.read()
                if response.status == 200:
                    mine.append((started, int(re.search(rb'"total":(\d+)', body).group(1))))
            with lock:
                seen.extend(mine)

        pollers = [threading.Thread(target=poll) for _ in range(4)]
        for poller in pollers:
            poller.start()
        time.sleep(0.5)
        etl = subprocess.run([str(binaries / "kasparro-etl"), "run", "--source", "csv"], capture_output=True, text=True,
                             env={**base_env, "DATABASE_URL": etl_url, "CSV_SOURCE_DIR": str(csv_dir),
                                  "ETL_BATCH_SIZE": "100", "LOG_LEVEL": "debug", "ETL_TRIGGER": "bench"})
        time.sleep(0.5)
        stop.set()
        for poller in pollers:
            poller.join()
        commits = []
        for line in etl.stderr.splitlines():
            if '"batch committed"' in line:
                event = json.loads(line)
                at = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=None)
                commits.append(((at - datetime(1970, 1, 1)).total_seconds(), int(event["inserted"])))
        assert commits, f"no batch committed (exit {etl.returncode}): {etl.stderr[-500:]}"
        delays = []
        for committed_at, total in commits:
            stale = [started - committed_at for started, seen_total in seen if started > committed_at and seen_total < total]
            delays.append(max(stale, default=0.0) * 1000)
        ordered = sorted(delays)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        print(f"version propagation: {len(commits)} ETL batches (sample CSV, 100 rows each), {len(seen):,} polled requests; "
              f"old data served after COMMIT returned: p50 {statistics.median(delays):.1f} ms, p99 {p99:.1f} ms, "
              f"max {max(delays):.1f} ms (target p99 <= 50 ms)", flush=True)
        return 0 if p99 <= 50 else 1
    finally:
        stop.set()
        subprocess.run([str(STACK), "bench-site-stop", str(directory)], capture_output=True, env=stack_process_env(env))
        for process in responders:
            process.terminate()
            process.wait()
        subprocess.run(["psql", "-X", "-q", etl_url.rsplit("/", 1)[0] + "/postgres", "-c",
                        f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], env=base_env, capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    env = stack_env()
    failed = throughput(env)
    late = propagation(env)
    return 1 if failed or late else 0


if __name__ == "__main__":
    sys.exit(main())
