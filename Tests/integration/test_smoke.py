"""`make smoke` itself, run against the test stack: every check must pass."""
import subprocess

import pytest

from conftest import ROOT


# It kills the ETL mid-run and exhausts rate limits: after every test that reads the stack as set up.
@pytest.mark.disruptive(1)
def test_smoke_script_passes(stack):
    result = subprocess.run(["python3", str(ROOT / "scripts" / "smoke.py")], env=stack.env, capture_output=True, text=True,
                            timeout=300)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke: 4 passed, 0 failed" in result.stdout
    assert "coinpaprika=3795" in result.stdout
