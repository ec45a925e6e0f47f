"""A migration queued behind a long reader (a pg_dump, the documented backup) does not stall the
API's reads: it waits for its locks at most lock_timeout at a time, gives up, lets the readers go
on, and tries again until the long reader is gone."""
import subprocess
import time
import uuid

from conftest import LATEST_MIGRATION, wait_for


def test_a_migration_behind_a_long_reader_does_not_block_new_reads(stack):
    db = "t_" + uuid.uuid4().hex[:10]
    stack.sh("createdb", db)
    stack.etl("migrate", "--to", "16", database=db)
    env = {**stack.env, "PGPASSFILE": stack.pgpass}
    url = stack.db_url(db)
    # The long reader: an open transaction that has read the table migration 17 alters.
    reader = subprocess.Popen(["psql", "-X", "-q", url, "-c",
                               "BEGIN; SELECT count(*) FROM etl_source_totals; SELECT pg_sleep(7); COMMIT;"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: stack.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' "
                                       "AND query LIKE '%pg_sleep(7)%' AND pid <> pg_backend_pid()")[0][0] == "1", timeout=5)
    migrating = stack.etl("migrate", database=db, wait=False)
    time.sleep(0.5)
    # New reads while the migration waits: each answers quickly, instead of queueing behind it.
    slowest = 0.0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        started = time.monotonic()
        stack.psql("SELECT count(*) FROM etl_source_totals", url)
        slowest = max(slowest, time.monotonic() - started)
    print(f"reads during a migration queued behind a long reader: slowest {slowest * 1000:.0f} ms")
    # Before the Migrator's lock_timeout, the first read here queued behind the migration's
    # ACCESS EXCLUSIVE request until the long reader ended (6 s).
    assert slowest < 1.5, f"a read waited {slowest:.1f} s behind the migration"
    assert migrating.poll() is None, "the migration waits for the long reader"
    reader.wait(timeout=30)
    out, err = migrating.communicate(timeout=60)
    assert migrating.returncode == 0, err[-2000:]
    assert "migration waits for its locks" in err
    assert stack.psql("SELECT max(version) FROM schema_migrations", url) == [[str(LATEST_MIGRATION)]]
