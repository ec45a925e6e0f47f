"""Schemathesis fuzzes every operation of the OpenAPI document through nginx: no 5xx in over 1,000 requests."""
import collections
import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_fuzz_from_openapi_has_no_server_errors(stack, tmp_path):
    report = tmp_path / "fuzz.ndjson"
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run([str(schemathesis), "run", str(ROOT / "docs" / "openapi.json"), "--url", stack.https,
                             "-H", f"x-api-key: {stack.bench_key}", "--checks", "not_a_server_error",
                             "--tls-verify", stack.cert, "--max-examples", "250", "--seed", "20261123",
                             "--report", "ndjson", "--report-ndjson-path", str(report)],
                            capture_output=True, text=True, timeout=600)
    statuses = collections.Counter()
    for line in report.read_text().splitlines():
        for match in re.finditer(r'"status_code": (\d+)', json.dumps(json.loads(line))):
            statuses[int(match.group(1))] += 1
    print(f"fuzz responses by status: {dict(sorted(statuses.items()))}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert sum(statuses.values()) >= 1000
    assert not [s for s in statuses if s >= 500]
