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
from typing import Any

__all__ = ["ACCESS_FIELDS", "JsonFormatter", "RequestIdFilter", "log_access"]

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
        entry = self.entry(record.created, record.levelname, record.name, record.getMessage())
        _add_fields(entry, record.__dict__)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return _encode(entry)

    def entry(self, created: float, level: str, logger: str, message: str) -> dict[str, object]:
        """The fields every line starts with; ``created`` is the Unix time of the event."""
        second = int(created)
        stamp = self._stamp
        if stamp[0] != second:
            stamp = self._stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        # Milliseconds as LogRecord counts them (its msecs).
        milliseconds = int((created - second) * 1000)
        return {
            "time": f"{stamp[1]}.{milliseconds:03d}Z",
            "level": level,
            "logger": logger,
            "message": message,
        }


def _add_fields(entry: dict[str, object], attributes: dict[str, Any]) -> None:
    """Copy the request id and the :data:`ACCESS_FIELDS` found in ``attributes``, in that order."""
    request_id = attributes.get("request_id")
    if request_id is not None:
        entry["request_id"] = request_id
    for name in ACCESS_FIELDS:
        if name in attributes:
            entry[name] = attributes[name]


def log_access(logger: logging.Logger, message: str, fields: dict[str, object]) -> None:
    """Log an access line: ``logger.info(message, extra=fields)``, for less.

    ``fields`` hold ``request_id`` and the :data:`ACCESS_FIELDS`. Every
    request writes one line, and building a LogRecord and passing it through
    the loggers, filters and formatter costs more than the line itself (about
    a tenth of a small request's time on a busy worker). So when the line
    would reach ageverify's own JSON handler alone (the production setup),
    it is made and written here, byte for byte the line that path makes; in
    any other setup (another handler, a filter, the text format) it takes
    the logging path.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _sole_json_handler(logger)
    if handler is None:
        record = logger.makeRecord(
            logger.name, logging.INFO, __file__, 0, message, (), None, extra=fields
        )
        logger.handle(record)
        return
    formatter: JsonFormatter = handler.formatter  # type: ignore[assignment]
    entry = formatter.entry(time.time(), "INFO", logger.name, message)
    _add_fields(entry, fields)
    line = _encode(entry) + handler.terminator
    handler.acquire()
    try:
        handler.stream.write(line)
        handler.stream.flush()
    except Exception:  # what StreamHandler.emit does with a failed write
        handler.handleError(logging.makeLogRecord({"name": logger.name, "msg": message}))
    finally:
        handler.release()


def _sole_json_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """ageverify's JSON handler, when it is all that a record of ``logger`` would meet."""
    parent = logger.parent
    if (
        logger.handlers
        or logger.filters
        or not logger.propagate
        or parent is None
        or parent.filters
        or parent.propagate
        or len(parent.handlers) != 1
    ):
        return None
    handler = parent.handlers[0]
    if (
        not getattr(handler, "_ageverify", False)
        or not isinstance(handler, logging.StreamHandler)
        or type(handler.formatter) is not JsonFormatter
        or handler.level > logging.INFO
        # Its own filter only adds a request id, which an access line has.
        or not all(type(f) is RequestIdFilter for f in handler.filters)
    ):
        return None
    return handler


class RequestIdFilter(logging.Filter):
    """Add the id of the request being served (Flask's ``g.request_id``) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            from flask import g, has_request_context

            if has_request_context():
                record.request_id = g.get("request_id")
        return True
