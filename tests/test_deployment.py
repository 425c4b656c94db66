"""docker-compose.yml cannot run here (no Docker engine), so prove what can be proved without one."""

import importlib
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_describes_postgres_redis_web_worker_and_beat():
    services = compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("web", "worker", "beat", "migrate"):
        assert services[name]["build"] == ".", f"{name} must be built from the Dockerfile"
    assert (ROOT / "Dockerfile").is_file()


def test_each_app_service_command_names_a_real_entry_point():
    services = compose()["services"]

    web = services["web"]["command"]
    assert web[0] == "gunicorn"
    module, attribute = web[1].split(":")
    assert callable(getattr(importlib.import_module(module), attribute))

    for name, subcommand in (("worker", "worker"), ("beat", "beat")):
        command = services[name]["command"]
        assert command[:2] == ["celery", "-A"]
        app_module = importlib.import_module(command[2])
        assert app_module.celery_app.main == "alliance_crm"
        assert command[3] == subcommand

    migrate = services["migrate"]["command"]
    assert migrate[:3] == ["python", "manage.py", "migrate"]


def test_compose_keeps_secrets_out_of_the_file():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "DJANGO_SECRET_KEY:" not in text
    assert "POSTGRES_PASSWORD:?" in text, "the password must come from the environment or fail loudly"


def test_app_services_talk_to_postgres_and_redis_in_production_mode():
    env = compose()["services"]["worker"]["environment"]
    assert env["DJANGO_DEBUG"] == "false"
    assert "postgres://" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"].endswith("redis://redis:6379/0}")
    # gunicorn runs several web processes: rate limits and used TOTP codes must be shared between them
    assert env["DJANGO_CACHE_URL"].endswith("redis://redis:6379/1}")


def test_the_dockerfile_runs_the_same_web_entry_point():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"gunicorn", "alliance_crm.wsgi:application"' in dockerfile


def test_procfile_runs_web_worker_beat_and_the_sign_ins_with_exec():
    lines = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert set(lines) == {"web", "worker", "beat", "signins"}
    assert all(command.startswith("exec ") for command in lines.values())


def test_the_image_runs_in_production_mode_and_installs_the_lock():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ENV DJANGO_DEBUG=false" in dockerfile
    assert "pip install --require-hashes --no-deps -r requirements.lock" in dockerfile


def locked(name: str) -> dict[str, str]:
    """{package: version} of a lock file, every pin with at least one hash."""
    text = (ROOT / name).read_text()
    pins = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if match:
            assert "--hash=sha256:" in block, f"{name}: {match[1]} is pinned without a hash"
            pins[canonicalize_name(match[1])] = match[2]
    assert pins, f"{name} pins nothing"
    return pins


@pytest.mark.parametrize("name", ["requirements.lock", "requirements-dev.lock"])
def test_lock_files_name_no_package_index(name):
    text = (ROOT / name).read_text().lower()
    for word in ("http", "pypi", "--index-url", "--extra-index-url", "--find-links", "file:"):
        assert word not in text, f"{name} mentions {word!r}: pass --no-emit-index-url / leave indexes out"


def test_the_locks_pin_every_dependency_pyproject_declares_at_one_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    production, development = locked("requirements.lock"), locked("requirements-dev.lock")
    for requirement, lock in [(r, production) for r in project["dependencies"]] + [
        (r, development) for r in project["optional-dependencies"]["dev"]
    ]:
        wanted = Requirement(requirement)
        name = canonicalize_name(wanted.name)
        assert name in lock, f"{wanted.name} is not in the lock: run make lock"
        assert wanted.specifier.contains(lock[name], prereleases=True), f"{requirement}: locked {lock[name]}"
    different = {name: (v, development[name]) for name, v in production.items() if development.get(name) != v}
    assert not different, f"the production and development locks disagree: {different}"
