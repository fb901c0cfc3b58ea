"""Log lines for machines: one JSON object per line, with the request id.

Production logs go to a collector that parses them, so each line is a JSON
object: ``time``, ``level``, ``logger``, ``message``, the ``request_id`` of the
request being served (if any) and, for access lines, ``method``, ``route``,
``status``, ``duration_ms`` and ``code``. Only those fields are written, so a
log call cannot carry request data into the log by adding an attribute; an
exception is named by its type, never by its message or traceback, which may
quote the input that caused it. ``AGEVERIFY_LOG_FORMAT=text`` gives the
human-readable lines of development mode.
"""

from __future__ import annotations

import json
import logging
import time

__all__ = ["ACCESS_FIELDS", "JsonFormatter", "RequestIdFilter"]

# Extra attributes of an access line (see ageverify.web.envelope).
ACCESS_FIELDS = ("method", "route", "status", "duration_ms", "code")

# A value that is not JSON (an exception object, say) is written as its str().
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON with a fixed set of fields.

    Every request writes an access line, so the line is cheap to make: one
    encoder for all lines, and the date and time up to the second formatted
    once per second.
    """

    # (second, its text): one tuple, replaced whole, so threads never mix two.
    _stamp: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        stamp = self._stamp
        if stamp[0] != second:
            stamp = self._stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        entry: dict[str, object] = {
            "time": f"{stamp[1]}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        attributes = record.__dict__
        request_id = attributes.get("request_id")
        if request_id is not None:
            entry["request_id"] = request_id
        for name in ACCESS_FIELDS:
            if name in attributes:
                entry[name] = attributes[name]
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return _encode(entry)


class RequestIdFilter(logging.Filter):
    """Add the id of the request being served (Flask's ``g.request_id``) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            from flask import g, has_request_context

            if has_request_context():
                record.request_id = g.get("request_id")
        return True
