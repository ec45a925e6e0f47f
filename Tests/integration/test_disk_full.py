"""The disk holding the market data fills during an ETL run. A database of the test's own lives in a
tablespace on a small loop-mounted ext4 filesystem (the WAL stays in the cluster's pg_wal, on
another disk: a full pg_wal stops PostgreSQL, see docs/operations.md); a ballast file leaves it
a few megabytes. The CSV load — the sample files plus synthetic daily histories, labelled as
such, in this database only — fails cleanly (the run says disk full; what is committed is whole:
every row once, the rollups equal count(*)), a responder connected before keeps serving that
database, and once the ballast is gone the next run resumes and ends exactly once.

What a full disk does not promise: a new connection to that database. PostgreSQL rewrites a cache
file in the database's directory at connection start after some catalog changes (`FATAL: could
not write init file` when it cannot), so the test's own checks of what was committed open their
connections after the ballast is gone (nothing writes in between), and the responder is
connected before the disk fills (docs/operations.md, "When a disk fills")."""
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from test_etl_csv import run_row

DISK_MB, FREE_MB = 96, 6
SYNTHETIC_COINS, SYNTHETIC_DAYS = 40, 1500


@pytest.fixture
def small_disk(stack, tmp_path):
    # Where the PostgreSQL user can reach it (pytest's own directories are private).
    mount = Path(tempfile.mkdtemp(prefix="kasparro-disk-"))
    mount.chmod(0o755)
    image = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", f"{DISK_MB}M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-m", "0", str(image)], check=True)
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"this machine cannot loop-mount a filesystem: {mounted.stderr.strip()}")
    try:
        data_dir = stack.psql_admin("SHOW data_directory")[0][0]
        owner = os.stat(data_dir)
        tablespace = mount / "tablespace"
        tablespace.mkdir()
        os.chown(tablespace, owner.st_uid, owner.st_gid)
        os.chmod(tablespace, 0o700)
        yield mount, tablespace
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def synthetic_csv(directory, coins: int, days: int) -> int:
    """Synthetic daily histories (test data, this test's database only) in the real files' shape."""
    start = datetime.datetime(2017, 1, 1)
    for coin in range(coins):
        with open(directory / f"coin_SyntheticTest{coin}.csv", "w") as out:
            out.write("SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\n")
            for day in range(days):
                date = (start + datetime.timedelta(days=day)).strftime("%d-%m-%Y 23:59")
                price = 1 + coin + day / 1000
                out.write(f"{day + 1},Synthetic Test {coin},SYNT{coin},{date},{price * 1.01:.6f},{price * 0.99:.6f},"
                          f"{price:.6f},{price:.6f},{1000 + day},{price * 1e6:.1f}\n")
    return coins * days


def test_a_full_disk_fails_the_run_cleanly_and_the_next_run_resumes_exactly_once(stack, small_disk, responder, tmp_path):
    mount, tablespace = small_disk
    name = "t_disk_" + uuid.uuid4().hex[:8]
    space = "ts_" + uuid.uuid4().hex[:8]
    stack.psql_admin(f"CREATE TABLESPACE {space} OWNER kasparro_etl LOCATION '{tablespace}'", database="postgres")
    try:
        stack.psql_admin(f"CREATE DATABASE {name} OWNER kasparro_etl TABLESPACE {space}", database="postgres")
        stack.etl("migrate", database=name)
        csv_dir = tmp_path / "csv"
        shutil.copytree(stack.csv_dir, csv_dir)
        synthetic = synthetic_csv(csv_dir, SYNTHETIC_COINS, SYNTHETIC_DAYS)
        # A responder of one worker, connected (its session and its version watcher) before the disk fills.
        api = responder(database=name, threads=1)
        assert api.get("/data", "page_size=2")[0] == 200 and api.get("/stats")[0] == 200
        # Leave FREE_MB: the load needs several times that.
        free = shutil.disk_usage(mount).free
        subprocess.run(["fallocate", "-l", str(free - FREE_MB * 1024 * 1024), str(mount / "ballast")], check=True)

        failed = stack.etl("run", "--source", "csv", database=name, csv_dir=csv_dir, check=False)
        assert failed.returncode == 2, failed.stderr[-2000:]
        # The responder keeps serving this database while its disk is full, at what was committed.
        status, _, body = api.get("/data", "page_size=2")
        assert status == 200, body
        served = json.loads(body)["total"]
        status, _, body = api.get("/stats")
        assert status == 200, body

        (mount / "ballast").unlink()
        run = run_row(stack, name)
        assert run["status"] == "failed" and "disk" in run["error"].lower(), run
        db = stack.db_url(name)
        # What was committed is whole: every row once, and the rollups agree with the rows.
        rows = int(stack.psql("SELECT count(*) FROM market_records", db)[0][0])
        distinct = int(stack.psql("SELECT count(DISTINCT (source, source_id, observed_at)) FROM market_records", db)[0][0])
        rolled = int(stack.psql("SELECT coalesce(sum(n), 0) FROM market_counts_monthly", db)[0][0])
        assert rows == distinct == rolled == served, (rows, distinct, rolled, served)
        assert 0 < rows < synthetic, "the disk filled before the load ended, after some batches committed"
        resumed = stack.etl("run", "--source", "csv", database=name, csv_dir=csv_dir, check=False)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert run_row(stack, name)["status"] == "succeeded"
        # Exactly once: every row of every file, none twice, totals exact.
        after = int(stack.psql("SELECT count(*) FROM market_records", db)[0][0])
        distinct = int(stack.psql("SELECT count(DISTINCT (source, source_id, observed_at)) FROM market_records", db)[0][0])
        rolled = int(stack.psql("SELECT coalesce(sum(n), 0) FROM market_counts_monthly", db)[0][0])
        quarantined = int(stack.psql("SELECT count(*) FROM quarantine", db)[0][0])
        lines = sum(len(p.read_text().splitlines()) - 1 for p in csv_dir.glob("*.csv"))
        print(f"disk full: {rows} rows committed before the failure, {after} after the resumed run "
              f"({lines} lines, {quarantined} quarantined)")
        assert after == distinct == rolled
        assert after + quarantined == lines
    finally:
        stack.psql_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", database="postgres")
        stack.psql_admin(f"DROP TABLESPACE IF EXISTS {space}", database="postgres")
