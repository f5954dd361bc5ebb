"""An unexpected error leaves a trace: the 500 page gives a reference, the log holds the same
reference with the traceback, and the response says it in X-Request-ID."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client as Browser
from django.test import override_settings

from tests.urls_failing import SECRET_IN_THE_ERROR


@pytest.fixture
def request_log(caplog: Any) -> Iterator[Any]:
    """The records of django.request, which the settings keep from the root logger."""
    logger = logging.getLogger("django.request")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def formatted(record: logging.LogRecord) -> str:
    """The line as the console handler of LOGGING writes it (to web.log in the demo)."""
    [handler] = logging.getLogger("django.request").handlers[:1]
    return handler.format(record)


@override_settings(ROOT_URLCONF="tests.urls_failing", DEBUG=False)
def test_a_failing_page_shows_a_reference_that_finds_its_traceback(
    request_log: Any, db: None
) -> None:
    browser = Browser(raise_request_exception=False)
    response = browser.get("/test-failing/")

    assert response.status_code == 500
    request_id = response["X-Request-ID"]
    assert len(request_id) >= 8
    page = response.content.decode()
    assert "Une erreur inattendue s'est produite" in page
    assert f"<code data-request-id>{request_id}</code>" in page
    # Its inline style is let in by a policy of its own, which allows nothing else.
    policy = response["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy
    assert "default-src 'none'" in policy
    assert "script-src" not in policy

    [record] = [r for r in request_log.records if r.name == "django.request"]
    assert record.levelno == logging.ERROR
    line = formatted(record)
    assert f"[{request_id}]" in line
    assert "Traceback (most recent call last)" in line
    assert "RuntimeError: the page failed" in line
    assert SECRET_IN_THE_ERROR not in line


@override_settings(ROOT_URLCONF="tests.urls_failing", DEBUG=False)
def test_the_proxys_request_id_is_kept_only_when_it_is_a_plain_token(
    request_log: Any, db: None
) -> None:
    browser = Browser(raise_request_exception=False)
    kept = browser.get("/test-failing/", headers={"X-Request-ID": "5f2b-9c41-aa07-proxy"})
    assert kept["X-Request-ID"] == "5f2b-9c41-aa07-proxy"
    for bad in ("short", "x" * 65, "abc def ghi", "id\r\nSet-Cookie: a=b", "<script>alert(1)"):
        response = browser.get("/test-failing/", headers={"X-Request-ID": bad})
        assert response["X-Request-ID"] != bad
        assert bad not in response.content.decode()
        assert bad not in request_log.text


def test_every_page_sends_its_request_id(client: Browser, db: None) -> None:
    first = client.get("/connexion/")
    second = client.get("/connexion/")
    assert first.status_code == 200
    assert first["X-Request-ID"] != second["X-Request-ID"]
