"""A short `make soak` (90 s) in the system suite (`make system-test`, which .ci/run runs after
`make test`): the whole stack of its own under 32 clients and the ETL every 30 s, through a
responder restart, a PostgreSQL restart and a standby loss; no request fails outside the
database restart window, and every total is exact. (The long run's memory and descriptor figures
are in docs/performance.md; growth is judged only on runs of an hour or more.)"""
import os
import re
import subprocess
import sys

from kasparro_tooling import ROOT


def test_a_short_soak_passes(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "soak.py")], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "DURATION": "90s", "CLIENTS": "32"})
    out = result.stdout + result.stderr
    print(out)
    assert result.returncode == 0 and "soak: PASS" in out, out[-3000:]
    requests_line = re.search(r"requests: ([\d,]+) .* failed: (\d+), of which (\d+) JSON 503 .* (\d+) outside it", out)
    assert requests_line and int(requests_line.group(1).replace(",", "")) > 1000
    assert requests_line.group(4) == "0"
    assert re.search(r"exact totals: 41 /data filters against count\(\*\), 0 differ", out)
    # Every process was seen at warm-up, middle and end.
    for name in ("responder 1", "responder 2", "nginx master", "postgres primary", "postgres standby", "fixture server"):
        assert re.search(rf"^{name}\s", out, re.M), name
    assert "restarted during the run" in out  # responder 1 and PostgreSQL were restarted
