"""The deployment examples in deploy/: what can be checked without deploying them.

The systemd units pass ``systemd-analyze verify`` (when it is installed); every variable they, the
environment file and the container files name is documented, secrets arrive as ``*_FILE``; every
``hotline`` command they run exists; and a sign-in through a proxy that ends TLS is not refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
OURS = ("HOTLINE_", "TELEGRAM_", "VOICE_", "DATABASE_URL")
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SERVICES = [u for u in UNITS if u.name != "hotline-backup.service"]


def documented_row(name: str) -> str:
    """The row of docs/configuration.md that documents ``name`` (empty if none)."""
    for line in CONFIGURATION.splitlines():
        if line.startswith(f"| `{name}`"):
            return line
    return ""


def names_in_env_file() -> set[str]:
    text = (DEPLOY / "hotline.env.example").read_text()
    return set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def names_in_units() -> set[str]:
    text = "".join(u.read_text() for u in UNITS)
    return set(re.findall(r"^Environment=\"?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def containerfile() -> str:
    return (DEPLOY / "container" / "Containerfile").read_text()


def names_in_containerfile() -> set[str]:
    env_block = re.search(r"^ENV (.*?)(?:\n\n|\nUSER)", containerfile(), re.MULTILINE | re.DOTALL)
    assert env_block is not None
    return set(re.findall(r"([A-Z][A-Z0-9_]+)=", env_block.group(1)))


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((DEPLOY / "container" / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_every_variable_in_the_deploy_files_is_documented_and_secrets_come_from_files() -> None:
    named = names_in_env_file() | names_in_units() | names_in_containerfile()
    named |= set(compose()["services"]["hotline"]["environment"])
    ours = {n for n in named if n.startswith(OURS)}
    assert {"HOTLINE_DATA_DIR", "HOTLINE_TRUST_X_FORWARDED_PROTO", "DATABASE_URL_FILE"} <= ours
    undocumented = sorted(n for n in ours if not documented_row(n.removesuffix("_FILE")))
    assert undocumented == []
    # A *_FILE is only for a secret, and a secret never appears in clear.
    from_files = sorted(n.removesuffix("_FILE") for n in ours if n.endswith("_FILE"))
    assert [n for n in from_files if "*(secret)*" not in documented_row(n)] == []
    assert [n for n in ours if not n.endswith("_FILE") and "*(secret)*" in documented_row(n)] == []


def test_the_container_runs_commands_the_hotline_has_and_copies_what_exists() -> None:
    commands = set(get_commands())
    text = containerfile()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert entrypoint == ["hotline"] and cmd[0] in commands
    assert compose()["services"]["hotline"]["command"][0] in commands
    compose_text = (DEPLOY / "container" / "compose.yaml").read_text()
    shown = set(re.findall(r"exec hotline hotline ([a-z-]+)", compose_text))
    shown |= set(re.findall(r"\| ([a-z-]+) ", compose_text.split("Admin commands", 1)[1].split("\n#\n", 1)[0]))
    assert {"setup", "backup", "contacts", "telegram"} <= shown and shown <= commands
    for source in re.findall(r"^COPY (.+) /opt/hotline/", text, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path
    # The paths the image points at are the ones it copies.
    assert "COPY flows /opt/hotline/flows" in text and "HOTLINE_FLOWS_DIR=/opt/hotline/flows" in text
    assert "COPY kb /opt/hotline/kb" in text and "HOTLINE_KB_DIR=/opt/hotline/kb/articles" in text


def test_the_units_run_hotline_commands_with_the_shared_environment_and_a_sandbox() -> None:
    commands = set(get_commands())
    assert {u.name for u in SERVICES} == {"hotline.service", "hotline-web.service", "hotline-worker.service"}
    for unit in UNITS:
        text = unit.read_text()
        for command in re.findall(r"^ExecStart=/opt/hotline/\.venv/bin/hotline ([a-z-]+)", text, re.MULTILINE):
            assert command in commands, (unit.name, command)
        for setting in (
            "User=hotline",
            "EnvironmentFile=/etc/hotline/hotline.env",
            "StateDirectoryMode=0700",
            "UMask=0077",
            "LimitCORE=0",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
        ):
            assert f"\n{setting}\n" in text, (unit.name, setting)
    env = (DEPLOY / "hotline.env.example").read_text()
    assert "\nHOTLINE_DATA_DIR=/var/lib/hotline\n" in env


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` checks every key and value; it wants the programs to exist, so the
    copies verified run this checkout's ``hotline``."""
    hotline = Path(sys.executable).parent / "hotline"
    assert hotline.exists()
    for unit in [*UNITS, *(DEPLOY / "systemd").glob("*.timer")]:
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/hotline/.venv/bin/hotline", str(hotline)))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        check=False,
    )
    # Unknown keys and bad values are only warnings (exit 0): any output is a failure here.
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_the_admin_wrapper_is_a_shell_script_that_parses() -> None:
    wrapper = DEPLOY / "systemd" / "hotline-admin"
    assert os.access(wrapper, os.X_OK)
    done = subprocess.run(["sh", "-n", str(wrapper)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_proxies_send_the_headers_the_hotline_is_told_to_trust_and_log_no_addresses() -> None:
    caddy = (DEPLOY / "caddy" / "Caddyfile").read_text()
    nginx = (DEPLOY / "nginx" / "hotline.conf").read_text()
    assert "header_up X-Forwarded-Proto {scheme}" in caddy and "header_up X-Forwarded-For {remote_host}" in caddy
    assert "\tlog" not in caddy  # Caddy writes an access log only when told to
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in nginx and "X-Forwarded-For $remote_addr;" in nginx
    assert nginx.count("access_log off;") == 2 and "gzip off;" in nginx
    # No request body (an application) in nginx's temporary files.
    assert "proxy_request_buffering off;" in nginx


@pytest.mark.parametrize(("trusted", "status"), [(False, 403), (True, 401)])
def test_a_sign_in_through_a_proxy_that_ends_tls_passes_the_forgery_check_only_when_trusted(
    db: None, settings: object, trusted: bool, status: int
) -> None:
    """The browser posts with ``Origin: https://…``; the request reaches the hotline over plain HTTP.
    Unless the proxy's ``X-Forwarded-Proto`` is trusted the origins differ and the sign-in is refused
    as a forgery (403); trusted, it is checked as any sign-in (401: no such account)."""
    settings.ALLOWED_HOSTS = ["hotline.example.org"]  # type: ignore[attr-defined]
    if trusted:
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # type: ignore[attr-defined]
    proxied = {"HTTP_HOST": "hotline.example.org", "HTTP_X_FORWARDED_PROTO": "https"}
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/", **proxied).content.decode()  # type: ignore[arg-type]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/accounts/login/",
        {"csrfmiddlewaretoken": token, "username": "nobody", "password": "x" * 12, "code": ""},
        HTTP_ORIGIN="https://hotline.example.org",
        **proxied,  # type: ignore[arg-type]
    )
    assert response.status_code == status


def test_the_variable_trusts_the_proxys_scheme(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "DJANGO_"))}
    env["HOTLINE_DATA_DIR"] = str(tmp_path / "var")
    show = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    run = [sys.executable, "-m", "hotline", "shell", "-c", show]
    off = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
    on = subprocess.run(
        run, env={**env, "HOTLINE_TRUST_X_FORWARDED_PROTO": "true"}, capture_output=True, text=True, check=False
    )
    # The last line: Django's shell first says how many objects it imported.
    assert off.stdout.strip().splitlines()[-1] == "None", off.stderr
    assert on.stdout.strip().splitlines()[-1] == "('HTTP_X_FORWARDED_PROTO', 'https')", on.stderr
