"""The ETL's invocation lock is a session advisory lock: a lost connection loses it. After a
reconnect the invocation takes it again before writing anything, or stops when another invocation
holds it now; `kasparro-etl retention` takes it too."""
import shutil
import subprocess
import time

from conftest import wait_for

LOCK_KEY = 7461002
HELD_BY_ETL = f"""SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                  WHERE l.locktype = 'advisory' AND l.objid = {LOCK_KEY} AND l.granted
                    AND a.application_name = 'kasparro-etl'"""


def one_file(stack, tmp_path):
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    shutil.copy(stack.csv_dir / "coin_BinanceCoin.csv", csv_dir)
    return csv_dir


def start_paused(stack, db, csv_dir):
    """A run of csv then coingecko that pauses before each commit; returns it once the first csv
    batch is waiting for its COMMIT."""
    process = stack.etl("run", "--source", "csv", "--source", "coingecko", database=db, wait=False, csv_dir=csv_dir,
                        env={"ETL_BATCH_SIZE": "100", "ETL_PAUSE_BEFORE_COMMIT_MS": "400"})
    for line in process.stderr:
        if "pausing before COMMIT" in line and '"source":"csv"' in line:
            return process
    raise AssertionError("the run never paused")


def psql(stack, db, sql, wait=True):
    command = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", stack.db_url(db), "-c", sql]
    env = {**stack.env, "PGPASSFILE": stack.pgpass}
    if wait:
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.strip()
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_reconnected_run_takes_the_lock_again(stack, tmp_path):
    db = stack.fresh_database()
    process = start_paused(stack, db, one_file(stack, tmp_path))
    psql(stack, db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'kasparro-etl' AND datname = current_database()")
    # The csv run fails with its connection; coingecko runs on a new session, which holds the lock.
    held = []
    for line in process.stderr:
        if "pausing before COMMIT" in line and '"source":"coingecko"' in line:
            held.append(psql(stack, db, HELD_BY_ETL))
    process.wait(timeout=60)
    assert held and set(held) == {"1"}, f"the reconnected session held the invocation lock: {held}"
    runs = stack.psql("SELECT source, status FROM etl_runs ORDER BY run_id", stack.db_url(db))
    assert runs == [["csv", "failed"], ["coingecko", "succeeded"]], runs


def test_a_run_that_lost_its_lock_to_another_invocation_stops(stack, tmp_path):
    db = stack.fresh_database()
    process = start_paused(stack, db, one_file(stack, tmp_path))
    # In one session: end the run's connection, then take the lock it held, and keep it a while.
    holder = psql(stack, db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE application_name = 'kasparro-etl' AND datname = current_database(); "
                             f"SELECT pg_advisory_lock({LOCK_KEY}); SELECT pg_sleep(6)", wait=False)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 75, rest[-2000:]
    assert "another ETL invocation holds the lock" in rest
    runs = stack.psql("SELECT source FROM etl_runs ORDER BY run_id", stack.db_url(db))
    assert runs == [["csv"]], "nothing ran after the lock was lost"
    holder.wait(timeout=30)


def test_retention_waits_for_no_invocation(stack, tmp_path):
    db = stack.fresh_database()
    stack.etl("run", "--source", "csv", database=db, csv_dir=one_file(stack, tmp_path))
    partitions = lambda: int(stack.psql("SELECT count(*) FROM kasparro_partitions('market_records')", stack.db_url(db))[0][0])
    before = partitions()
    holder = psql(stack, db, f"SELECT pg_advisory_lock({LOCK_KEY}); SELECT pg_sleep(4)", wait=False)
    assert wait_for(lambda: psql(stack, db, f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = {LOCK_KEY}") == "1",
                    timeout=5)
    busy = stack.etl("retention", database=db, check=False, env={"RETENTION_MARKET_MONTHS": "1"})
    assert busy.returncode == 75, busy.stderr[-1000:]
    assert partitions() == before, "nothing dropped while another invocation holds the lock"
    holder.wait(timeout=30)
    done = stack.etl("retention", database=db, check=False, env={"RETENTION_MARKET_MONTHS": "1"})
    assert done.returncode == 0, done.stderr[-1000:]
    assert partitions() < before
