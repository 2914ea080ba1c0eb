"""The server's log lines: the same text as logging's own formatter writes, made cheaper."""

from __future__ import annotations

import io
import logging
import logging.config
import time

import pytest

from twilio_fake import logs
from twilio_fake.cli import LOG_CONFIG


def record(created: float, message: str = "RQ1 GET /v1/x 200 0.4ms account=-") -> logging.LogRecord:
    made = logging.LogRecord("twilio_fake.requests", logging.INFO, "", 0, message, None, None)
    made.created, made.msecs = created, (created - int(created)) * 1000
    return made


@pytest.mark.parametrize("start", [1_764_626_400.0, 1_764_626_459.999, 1_800_000_000.5])
def test_a_line_reads_as_logging_would_write_it_in_every_second(start: float) -> None:
    """Lines within one second and across seconds (its text kept once a second) read exactly as
    logging's Formatter with the same format makes them."""
    ours, theirs = logs.Formatter(), logging.Formatter(logs.LOG_FORMAT)
    for step in (0.0, 0.0004, 0.3, 0.9999, 1.0, 1.5, 61.25, 3600.0, 0.1):
        made = record(start + step)
        assert ours.format(made) == theirs.format(made)


def test_the_configured_server_log_writes_that_line_and_no_thread_or_process() -> None:
    """LOG_CONFIG's handler writes the line; records gather no thread or process."""
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    try:
        logging.config.dictConfig(LOG_CONFIG)
        stream = io.StringIO()
        (handler,) = root.handlers
        handler.setStream(stream)  # type: ignore[attr-defined]
        before = time.time()
        logging.getLogger("twilio_fake.requests").info("RQ%s GET %s", "1", "/v1/x")
        line = stream.getvalue()
        assert line.endswith(" INFO twilio_fake.requests: RQ1 GET /v1/x\n"), line
        stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
        assert int(before) - 1 <= stamp <= time.time()
        records: list[logging.LogRecord] = []
        catch = logging.Handler()
        catch.emit = records.append  # type: ignore[method-assign,assignment]
        root.addHandler(catch)
        logging.getLogger("twilio_fake.requests").info("another")
        (made,) = records
        assert (made.thread, made.process, made.processName) == (None, None, None)
    finally:
        root.handlers[:], root.level = kept
