"""Credentials never reach the gateway's log lines."""

from __future__ import annotations

import logging

import pytest

from gateway.log_redaction import RedactSecrets, redact

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("line", "expected"), [
    ('"WebSocket /v1/ingest?token=abc-DEF_123" [accepted]',
     '"WebSocket /v1/ingest?token=<redacted>" [accepted]'),
    ("GET /v1/live?athlete=42&token=s3cr3t&x=1", "GET /v1/live?athlete=42&token=<redacted>&x=1"),
    ("Authorization: Bearer eyJabc.def", "Authorization: Bearer <redacted>"),
    ("nothing to hide here", "nothing to hide here"),
])
def test_tokens_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_the_filter_rewrites_formatted_records() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               '%s - "WebSocket %s" [accepted]', ("127.0.0.1:5", "/v1/ingest?token=t0k3n"),
                               None)
    assert RedactSecrets().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "WebSocket /v1/ingest?token=<redacted>" [accepted]'
