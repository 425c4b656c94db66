"""`make run`'s set-up: one PORT for the server and the links it sends, the demo sign-ins shown again once the
server is up, and an install from the lock file."""

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.test_settings import run_settings

ROOT = Path(__file__).resolve().parent.parent


def make_dry_run(*args: str, **env: str) -> str:
    """What ``make`` would run (``-n``: nothing is run, nothing installed)."""
    clean = {k: v for k, v in os.environ.items() if k not in {"PORT", "ALLIANCE_SITE_URL", "MAKEFLAGS"}}
    result = subprocess.run(
        ["make", "-n", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_port_drives_the_development_site_address(tmp_path):
    default = run_settings(tmp_path, DJANGO_DEBUG="true")
    moved = run_settings(tmp_path, DJANGO_DEBUG="true", PORT="8123")
    named = run_settings(tmp_path, DJANGO_DEBUG="true", PORT="8123", ALLIANCE_SITE_URL="https://crm.example/")

    assert json.loads(default.stdout)["site_url"] == "http://127.0.0.1:8000"
    assert json.loads(moved.stdout)["site_url"] == "http://127.0.0.1:8123"
    assert json.loads(named.stdout)["site_url"] == "https://crm.example"


def test_the_procfile_serves_on_port():
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "runserver 127.0.0.1:${PORT:-8000}" in web


@pytest.mark.skipif(not (ROOT / "Makefile").exists(), reason="no Makefile")
def test_make_run_serves_and_links_on_one_port():
    plan = make_dry_run(
        "--eval",
        'show-site: ; echo "site=$(ALLIANCE_SITE_URL)"',
        "--eval",
        "demo: show-site",
        "run",
        "PORT=8123",
    )
    assert "honcho start -f Procfile -p 8123" in plan
    assert "Alliance CRM on http://127.0.0.1:8123" in plan
    # honcho gives the worker PORT+100: the site address the worker's links use is fixed by make, once
    assert "site=http://127.0.0.1:8123" in plan
    assert "site=https://crm.example" in make_dry_run(
        "--eval", 'show-site: ; echo "site=$(ALLIANCE_SITE_URL)"', "--eval", "demo: show-site", "run",
        ALLIANCE_SITE_URL="https://crm.example",
    )  # fmt: skip


def test_make_run_installs_from_the_lock_file_with_hashes():
    plan = make_dry_run("-W", "requirements-dev.lock", "run")  # as if the lock had just changed
    install = [line for line in plan.splitlines() if "uv pip install" in line]
    assert install and "--require-hashes -r requirements-dev.lock" in install[0]
    assert plan.index("uv pip install") < plan.index("setup_demo") < plan.index("honcho start")


class Answering(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)  # /healthz without a worker: still a server that answers
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_sign_ins_are_printed_once_the_server_answers_and_the_process_waits_to_be_stopped(tmp_path):
    (tmp_path / "demo-sign-ins.txt").write_text(" Demo sign-ins\n   admin  secret-pass\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    port = server.server_address[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_"))}
    env |= {
        "DJANGO_DEBUG": "true",
        "ALLIANCE_VAR_DIR": str(tmp_path),
        "ALLIANCE_SITE_URL": f"http://127.0.0.1:{port}",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo_sign_ins", "--when-up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        time.sleep(1.5)
        assert process.poll() is None  # nothing answers yet: it waits, printing nothing
        threading.Thread(target=server.serve_forever, daemon=True).start()
        first = process.stdout.readline()
        assert f"Alliance CRM is up on http://127.0.0.1:{port}" in first
        assert "Demo sign-ins" in process.stdout.readline()
        assert "secret-pass" in process.stdout.readline()
        time.sleep(0.5)
        assert process.poll() is None  # honcho stops everything when one process ends: it keeps running
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        server.shutdown()
