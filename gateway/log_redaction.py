"""Keeps credentials out of the gateway's logs.

uvicorn logs each WebSocket handshake with its full path, and devices that cannot set
headers put their token in `?token=`. This filter, installed on every log handler of the
gateway process, rewrites such values before a record is written.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

_SECRETS = re.compile(r"((?:[?&]token=)|(?:Bearer\s+))[^\s&\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    return _SECRETS.sub(r"\1<redacted>", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging set-up, with the redaction filter on each handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactSecrets}}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact")
    return config
