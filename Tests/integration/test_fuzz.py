"""Schemathesis (pinned in the Makefile) checks the OpenAPI document against the real stack through
nginx: every check (`--checks all`: no server error, statuses and bodies as documented, schema-valid
requests accepted and schema-invalid ones refused, ...) over every phase that applies (examples,
coverage, fuzzing; stateful has no links to follow here). Cursors are made by the hooks in
schemathesis_hooks.py: a fuzzer cannot guess an opaque token."""
import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_the_document_says_what_the_server_enforces(stack, tmp_path):
    report = tmp_path / "fuzz.ndjson"
    schemathesis = Path(sys.executable).parent / "schemathesis"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "PYTHONPATH": str(Path(__file__).parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([str(schemathesis), "run", str(ROOT / "docs" / "openapi.json"), "--url", stack.https,
                             "-H", f"x-api-key: {stack.bench_key}", "--checks", "all",
                             "--phases", "examples,coverage,fuzzing,stateful",
                             "--tls-verify", stack.cert, "--max-examples", "250", "--seed", "20261203",
                             "--continue-on-failure",
                             "--report", "ndjson", "--report-ndjson-path", str(report)],
                            capture_output=True, text=True, timeout=600, env=env)
    statuses = collections.Counter()
    for line in report.read_text().splitlines():
        for match in re.finditer(r'"status_code": (\d+)', json.dumps(json.loads(line))):
            statuses[int(match.group(1))] += 1
    print(f"schemathesis responses by status: {dict(sorted(statuses.items()))}")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout, result.stdout[-4000:]
    assert sum(statuses.values()) >= 1000
    assert statuses[200] > 0 and statuses[400] > 0, "both accepted and refused requests were made"
