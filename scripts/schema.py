#!/usr/bin/env python3
"""`make schema`: docs/schema.sql, the schema after every migration, from an empty database migrated
by the built `kasparro-etl` in a throwaway PostgreSQL cluster. pg_dump's output is normalised so it
diffs cleanly: no header, no SET lines, no date-named partitions. The integration test
test_schema.py dumps a freshly migrated database the same way and compares it with the file."""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kasparro_tooling import ROOT, STACK, new_stack_env

SCHEMA_FILE = ROOT / "docs" / "schema.sql"
HEADER = ("-- The schema after every migration, as `make schema` writes it (pg_dump --schema-only of an\n"
          "-- empty database migrated by kasparro-etl, normalised). Generated: edit the migrations in\n"
          "-- Sources/Store/Migrations/, never this file; Tests/integration/test_schema.py holds it.\n")
# Partitions are named by their month or year (market_records_m202611, raw_api_pages_y2024).
PARTITION = re.compile(r"_(m\d{6}|y\d{4})\b")


def normalise(dump: str) -> str:
    """pg_dump's text without what changes between dumps of the same schema: its header and
    footer, session settings, and date-named partitions (with their indexes and constraints)."""
    statements = re.split(r"\n(?=--\n-- Name: )", dump)[1:]  # the first part is pg_dump's header
    kept = []
    for statement in statements:
        if PARTITION.search(statement.split("\n", 2)[1]):
            continue
        lines = [line.rstrip() for line in statement.split("\n")
                 if not line.startswith(("SET ", "SELECT pg_catalog.set_config(", "\\restrict", "\\unrestrict"))]
        kept.append("\n".join(lines).strip())
    text = "\n\n".join(kept)
    text = re.sub(r"\n--\n-- PostgreSQL database dump complete\n--$", "", text)
    return HEADER + "\n" + re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def dump(env: dict, database: str) -> str:
    """The normalised schema of `database` in the stack `env` names."""
    out = subprocess.run([str(STACK), "schema-dump", database], env=env, check=True, capture_output=True, text=True)
    return normalise(out.stdout)


def main() -> int:
    run_dir = Path(tempfile.mkdtemp(prefix="kasparro-schema-"))
    run_dir.chmod(0o755)
    env = new_stack_env(run_dir)
    sh = lambda *args: subprocess.run([str(STACK), *args], env=env, check=True, capture_output=True, text=True)
    try:
        sh("pg-start")
        sh("db-setup")
        sh("migrate")
        SCHEMA_FILE.write_text(dump(env, "kasparro"))
        print(f"wrote {SCHEMA_FILE.relative_to(ROOT)}")
    finally:
        subprocess.run([str(STACK), "pg-stop"], env=env, capture_output=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
