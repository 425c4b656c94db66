"""Real processes for tests: a private redis-server on a free port, Celery started as the Procfile says."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote

import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shared_database_url() -> str:
    """The URL of the test database pytest-django made, for processes that must share it."""
    db = settings.DATABASES["default"]
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    user = quote(db.get("USER") or "postgres", safe="")
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a process in its own session, as honcho does, so that it and its children stop together."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Signal the process group; SIGKILL whatever is left after ``timeout``."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def redis_answers(port: int) -> bool:
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def start_redis(port: int, workdir: Path, log: Path) -> subprocess.Popen:
    """A private, empty redis-server that keeps nothing on disk."""
    command = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--daemonize", "no", "--dir", str(workdir),
    ]  # fmt: skip
    server = spawn(command, dict(os.environ), log)
    assert wait_for(lambda: redis_answers(port), 15), log.read_text()
    return server


def procfile_command(name: str) -> list[str]:
    """The Procfile's command for ``name``, run with this interpreter (``exec`` dropped, ``celery`` as a module)."""
    lines = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    words = shlex.split(lines[name])
    if words[0] == "exec":
        words = words[1:]
    if words[0] == "celery":
        words = [sys.executable, "-m", "celery", *words[1:]]
    return words
