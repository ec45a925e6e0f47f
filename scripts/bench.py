#!/usr/bin/env python3
"""`make bench`: wrk against the running `make up` stack over HTTPS, next to nginx serving a static
file of the same size as the first /data page (the ceiling on this machine)."""
import json
import os
import re
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
DURATION = os.environ.get("BENCH_DURATION", "10s")
THREADS = os.environ.get("BENCH_THREADS", "2")


def stack_env() -> dict:
    out = subprocess.run([str(ROOT / "scripts" / "stack.sh"), "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


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


def wrk(url: str, key: "str | None", duration: str = DURATION, script: "str | None" = None) -> dict:
    command = ["wrk", "-t", THREADS, "-c", str(CONNECTIONS), "-d", duration, "--latency", url]
    if script:
        command[1:1] = ["-s", script]
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


def main() -> int:
    env = stack_env()
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
    cases = [
        ("static file, same size (ceiling)", f"https://localhost:{env['BENCH_STATIC_PORT']}/page.json", None),
        ("/data first page (50)", base + "/data?page_size=50", key),
        ("/data filtered symbol=BTC", base + "/data?symbol=BTC&page_size=50", key),
        ("/data offset 15000", base + "/data?limit=50&offset=15000", key),
        ("/data cursor at depth 15000", base + f"/data?page_size=50&cursor={cursor}", key),
        ("/data uncached (distinct query each)", base + "/data", key),
        ("/health", base + "/health", None),
    ]
    print(f"wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION} over HTTPS; first page body {len(first)} bytes")
    print(f"{'case':<36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    results = {}
    for name, url, case_key in cases:
        script = None
        if "uncached" in name:
            script = str(Path(env["NGINX_DIR"]) / "uncached.lua")
            Path(script).write_text(UNCACHED_SCRIPT)
        wrk(url, case_key, duration="2s", script=script)  # warm-up: connections, prepared statements
        r = wrk(url, case_key, script=script)
        results[name] = r
        print(f"{name:<36} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>7}", flush=True)
    failed = sum(r["errors"] for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
