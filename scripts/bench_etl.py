#!/usr/bin/env python3
"""ETL benchmark: the full sample set (3,795 CoinPaprika tickers, the CoinGecko pages, 17,061 CSV
rows) from the local fixture server into an empty database, then a re-run with nothing changed.
Prints wall time and peak memory (max RSS) of each run. Needs the PostgreSQL of `make up`."""
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "scripts" / "stack.sh"


def main() -> int:
    env = dict(line.split("=", 1) for line in subprocess.run([str(STACK), "env"], capture_output=True, text=True,
                                                             check=True).stdout.splitlines() if "=" in line)
    fixture = subprocess.Popen([sys.executable, str(ROOT / "Tests" / "fixtures" / "fixture_server.py")],
                               stdout=subprocess.PIPE, text=True)
    port = fixture.stdout.readline().strip()
    try:
        subprocess.run([str(STACK), "createdb", "kasparro_bench"], check=True, capture_output=True)
        run_env = {**os.environ, "PGPASSFILE": env["PGPASSFILE"],
                   "DATABASE_URL": env["ETL_DATABASE_URL"].rsplit("/", 1)[0] + "/kasparro_bench",
                   "CSV_SOURCE_DIR": env["CSV_SOURCE_DIR"],
                   "COINPAPRIKA_BASE_URL": f"http://127.0.0.1:{port}/paprika/v1",
                   "COINGECKO_BASE_URL": f"http://127.0.0.1:{port}/gecko/api/v3",
                   "COINGECKO_REQUESTS_PER_MINUTE": "6000", "LOG_LEVEL": "warning"}
        etl = str(Path(env["BIN_DIR"]) / "kasparro-etl")
        subprocess.run([etl, "migrate"], env=run_env, check=True, capture_output=True)
        print("ETL, all sources from the local fixture server (CoinGecko rate limit lifted for the fixture)")
        for label in ("first load into an empty database", "re-run, nothing changed"):
            started = time.monotonic()
            result = subprocess.run([etl, "run"], env=run_env, capture_output=True, text=True)
            wall = time.monotonic() - started
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"  {label:<36} {wall:6.2f} s wall   peak RSS so far {peak_mb:5.1f} MB   exit {result.returncode}")
            for line in result.stdout.splitlines():
                print("     " + line)
            if result.returncode != 0:
                return 1
    finally:
        fixture.terminate()
        subprocess.run([str(STACK), "createdb", "kasparro_bench"], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
