"""The server's log lines, made cheaply: one per request is written while serving.

`LOG_CONFIG` (cli.py) names `Formatter` here, so that every process that applies it (each
`--workers` process does) imports this module and gets the settings below.

What it saves: a request's line cost about 40 µs of a fetch served at 16 connections, against
9 µs in a loop that does nothing else (docs/performance.md, "The access log"). Python's logging
HOWTO ("Optimization") names what a record gathers that a line may not need: the thread, the
process and the multiprocessing name (public switches), and the caller's file and line (a
private one, `_srcfile`, left alone: overrides of private members live in overrides.py, and only
for a gain of 5% or more). The format here uses none of them, so the records do not gather the
first three; and the time of day is formatted once a second, not once a line.
"""

from __future__ import annotations

import logging
import time

# What no line of ours shows (the format is LOG_FORMAT): not gathered for any record.
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Formatter(logging.Formatter):
    """logging's Formatter with the same `asctime` (local time, "2026-12-01 22:10:06,123"),
    its seconds formatted once for all the lines within that second."""

    def __init__(self, fmt: str = LOG_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)
        self._second = -1
        self._second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:  # two threads may both format it: the same text
            self._second_text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return f"{self._second_text},{int(record.msecs):03d}"  # logging's default_msec_format


class NoWebSocketAdvice(logging.Filter):
    """Drop uvicorn's two warnings on a request that asks to switch protocols. The fake serves
    no WebSocket (`ws="none"`, cli.py): the edge refuses such a request (400) and logs it with
    its own line; uvicorn's words would advise installing a WebSocket library, twice a request."""

    ADVICE = ("Unsupported upgrade request.", "No supported WebSocket library detected.")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.ADVICE)
