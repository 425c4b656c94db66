"""Patient-link tokens never reach a log line: gunicorn's access log, django.request and django.server."""

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from gunicorn.config import Config

from alliance_crm.gunicorn_logging import MaskedLogger
from alliance_crm.privacy import MaskTokensFilter, mask_tokens
from nudges.channels import ConsoleSmsBackend

TOKEN = "MTIz:1tXyZa:abcDEF_secret-token"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"/c/{TOKEN}/", "/c/<token>/"),
        (f"/u/{TOKEN}/", "/u/<token>/"),
        (f"/consent/confirm/{TOKEN}/", "/consent/confirm/<token>/"),
        (f'"GET /c/{TOKEN}/?x=1 HTTP/1.1" 200', '"GET /c/<token>/?x=1 HTTP/1.1" 200'),
        (f"https://crm.example/u/{TOKEN}", "https://crm.example/u/<token>"),
        ("/patients/12/", "/patients/12/"),
        ("/static/css/alliance.css", "/static/css/alliance.css"),
    ],
)
def test_tokens_are_masked_and_other_paths_kept(text, expected):
    assert mask_tokens(text) == expected


def access_line(path, *, referer="-"):
    config = Config()
    config.set("accesslog", "-")
    logger = MaskedLogger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path.split("?")[0],
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.1",
        "HTTP_REFERER": referer,
    }
    resp = SimpleNamespace(status="200 OK", sent=10, headers=[("Content-Type", "text/html")])
    req = SimpleNamespace(headers=[("REFERER", referer)])
    atoms = logger.atoms(resp, req, environ, timedelta(seconds=0))
    return config.access_log_format % atoms, atoms


def test_the_gunicorn_access_log_masks_tokens_in_path_and_referrer():
    line, atoms = access_line(f"/c/{TOKEN}/", referer=f"https://crm.example/u/{TOKEN}/")
    assert TOKEN not in line
    assert "/c/<token>/" in line
    assert all(TOKEN not in str(value) for value in atoms.values())


def test_the_image_and_compose_use_the_masking_logger():
    from pathlib import Path

    root = Path(settings.BASE_DIR)
    for name in ("Dockerfile", "docker-compose.yml"):
        assert "alliance_crm.gunicorn_logging.MaskedLogger" in (root / name).read_text(), name


def test_django_request_and_server_logs_mask_tokens(client, db, caplog):
    handler = logging.getLogger().handlers[0]
    assert any(isinstance(f, MaskTokensFilter) for f in handler.filters)
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/u/{TOKEN}/",), None
    )
    record.request = SimpleNamespace(path=f"/u/{TOKEN}/", get_full_path=lambda: f"/u/{TOKEN}/")
    MaskTokensFilter().filter(record)
    assert TOKEN not in record.getMessage()
    assert TOKEN not in record.request.path
    server = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        (f"GET /c/{TOKEN}/ HTTP/1.1", "200", "5"),
        None,
    )
    MaskTokensFilter().filter(server)
    assert TOKEN not in server.getMessage()


def test_a_real_not_found_on_a_patient_link_logs_no_token(client, db):
    import io

    handler = next(h for h in logging.getLogger("django").handlers if isinstance(h, logging.StreamHandler))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        assert client.get(f"/c/{TOKEN}/not-a-page/").status_code == 404
        assert client.get(f"/u/{TOKEN}/not-a-page/").status_code == 404
    finally:
        handler.setStream(previous)
    written = stream.getvalue()
    assert "Not Found: /c/<token>/not-a-page/" in written
    assert TOKEN not in written


def test_the_django_loggers_go_through_the_masking_handler():
    loggers = settings.LOGGING["loggers"]
    for name in ("django", "django.server"):
        assert loggers[name]["handlers"] == ["console"]
    assert "mask_tokens" in settings.LOGGING["handlers"]["console"]["filters"]


def test_the_console_sms_backend_logs_no_patient_text(caplog):
    caplog.set_level(logging.INFO, logger="nudges.channels")
    ConsoleSmsBackend().send(to="+13125550147", body="Your fatigue plan: magnesium", reference="n1")
    assert "magnesium" not in caplog.text
    assert "+13125550147" not in caplog.text
