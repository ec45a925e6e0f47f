"""Production artefacts, verified here without a running systemd: make install into a DESTDIR,
systemd-analyze verify and security, and nginx -t on the production site."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

UNITS = ["kasparro-api@1.service", "kasparro-api@1.socket", "kasparro-etl.service", "kasparro-etl.timer"]


@pytest.fixture(scope="module")
def installed(stack, tmp_path_factory):
    root = tmp_path_factory.mktemp("destdir")
    tls = root / "test-tls"
    tls.mkdir()
    shutil.copy(stack.run_dir / "nginx" / "tls.crt", tls / "fullchain.pem")
    shutil.copy(stack.run_dir / "nginx" / "tls.key", tls / "privkey.pem")
    (tls / "api-keys.map").write_text('"k" "ops:standard";\n')
    env = {**os.environ, "DESTDIR": str(root), "PREFIX": "/usr/local", "BIN_DIR": str(stack.bin_dir),
           "TLS_CERT": str(tls / "fullchain.pem"), "TLS_KEY": str(tls / "privkey.pem"), "KEYS_MAP": str(tls / "api-keys.map")}
    subprocess.run([str(ROOT / "scripts" / "install.sh")], env=env, check=True, capture_output=True)
    # systemd-analyze resolves dependencies such as sysinit.target inside --root.
    shutil.copytree("/lib/systemd/system", root / "lib" / "systemd" / "system", symlinks=True)
    return root


def test_install_layout(installed):
    for path in ["usr/local/bin/kasparro-api", "usr/local/bin/kasparro-etl", "etc/systemd/system/kasparro-api@.service",
                 "etc/systemd/system/kasparro-api@.socket", "etc/systemd/system/kasparro-etl.service",
                 "etc/systemd/system/kasparro-etl.timer", "etc/nginx/sites-available/kasparro.conf",
                 "usr/local/share/kasparro/openapi.json", "usr/local/share/kasparro/errors/error.json",
                 "etc/kasparro/etl.env", "etc/kasparro/api.env", "usr/local/share/kasparro/docs/index.html",
                 "usr/local/share/kasparro/monitoring/kasparro-alerts.yml"]:
        assert (installed / path).exists(), path
    service = (installed / "etc/systemd/system/kasparro-api@.service").read_text()
    assert "ExecStart=/usr/local/bin/kasparro-api" in service and "@PREFIX@" not in service
    assert "Environment=PGPASSFILE=%d/pgpass" in service
    for unit in ("kasparro-api@.service", "kasparro-etl.service"):
        text = (installed / "etc/systemd/system" / unit).read_text()
        assert not re.search(r"^Environment=.*(PASSWORD|_API_KEY)=", text, re.M), unit


def verify(root, units):
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                           *[str(root / "etc/systemd/system" / u) for u in units]], capture_output=True, text=True)


def test_systemd_analyze_verify(installed):
    result = verify(installed, UNITS)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    # The check can fail: without its binary the service does not verify.
    binary = installed / "usr/local/bin/kasparro-api"
    binary.rename(binary.with_suffix(".moved"))
    try:
        broken = verify(installed, ["kasparro-api@1.service"])
        assert broken.returncode != 0 and "not executable" in broken.stderr
    finally:
        binary.with_suffix(".moved").rename(binary)


@pytest.mark.parametrize("unit", ["kasparro-api@1.service", "kasparro-etl.service"])
def test_security_rating(installed, unit):
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={installed}", unit],
                            capture_output=True, text=True)
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    print(f"{unit}: exposure {match.group(1)}")
    assert float(match.group(1)) <= 2.5


def test_nginx_accepts_the_production_site(installed):
    prefix = installed / "nginx-test"
    (prefix / "logs").mkdir(parents=True)
    site = installed / "etc/nginx/sites-available/kasparro.conf"
    # Rooted paths of the site (log, errors, OpenAPI) point into the temporary prefix.
    text = site.read_text().replace("/var/log/nginx/", f"{prefix}/logs/").replace("/usr/local/share/", f"{installed}/usr/local/share/")
    (prefix / "site.conf").write_text(text)
    # Debian's nginx.conf loads the packaged modules (brotli, a dependency of the package); so does this one.
    (prefix / "nginx.conf").write_text("load_module /usr/lib/nginx/modules/ngx_http_brotli_filter_module.so;\n"
                                       f"pid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\n"
                                       f"events {{}}\nhttp {{\n include {prefix}/site.conf;\n}}\n")
    result = subprocess.run(["nginx", "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "logs/error.log")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "listen 443 ssl http2;" in text and "listen 80;" in text and "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert "server_tokens off;" in text and "Strict-Transport-Security" in text
