"""A memo of schemathesis's pattern draws, shared by the runs that ask for one.

Schemathesis's coverage phase draws one string for each pattern and length bounds it needs
(`_pattern_strategy`, drawn by `cached_draw`) with Hypothesis seeded with 0: the same string in
every process, for the same versions. A few of the contract's patterns (a URL's; the number
search's `Contains`) cost seconds of CPU each to draw, in every run, before a request is sent;
a suite that runs the kit twenty times pays that twenty times. With `CONTRACT_KIT_DRAW_CACHE`
set to a directory, each such draw is kept there and read back by later runs: the same string,
so the same requests. Without it nothing changes. The test suite sets it for its own run only
(tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

VARIABLE = "CONTRACT_KIT_DRAW_CACHE"


def install(directory: str | None = None) -> bool:
    """Keep the pattern draws in `directory` (default: $CONTRACT_KIT_DRAW_CACHE); whether it is."""
    directory = directory or os.environ.get(VARIABLE)
    if not directory:
        return False
    try:
        from schemathesis.specs.openapi.coverage import _schema

        pattern_strategy, cached_draw = _schema._pattern_strategy, _schema.cached_draw
    except (ImportError, AttributeError):  # another schemathesis: it draws as it always did
        return False
    if getattr(cached_draw, "memo", None) is not None:
        return True
    _schema._pattern_strategy, _schema.cached_draw = memo(
        Path(directory), pattern_strategy, cached_draw
    )
    return True


def memo(folder: Path, pattern_strategy: Any, cached_draw: Any) -> tuple[Any, Any]:
    """Schemathesis's `_pattern_strategy` and `cached_draw`, keeping each pattern's draw in
    `folder` (a string, or that none can be drawn) and reading it back when kept."""
    import hypothesis
    import schemathesis
    from hypothesis.errors import Unsatisfiable

    folder.mkdir(parents=True, exist_ok=True)
    versions = [list(sys.version_info[:2]), schemathesis.__version__, hypothesis.__version__]
    keys: dict[int, tuple[str, Any]] = {}  # id(strategy) -> (its file, the strategy itself)

    def memo_pattern_strategy(
        session: Any, pattern: str, min_length: int | None, max_length: int | None, fmt: str | None
    ) -> Any:
        strategy = pattern_strategy(session, pattern, min_length, max_length, fmt)
        if strategy is not None:
            key = json.dumps([versions, pattern, min_length, max_length, fmt])
            name = hashlib.sha256(key.encode()).hexdigest() + ".json"
            keys[id(strategy)] = (name, strategy)
        return strategy

    def memo_cached_draw(session: Any, strategy: Any) -> Any:
        known = keys.get(id(strategy))
        if known is None or known[1] is not strategy:
            return cached_draw(session, strategy)
        path = folder / known[0]
        try:
            kept = json.loads(path.read_text())
        except (OSError, ValueError):
            kept = None
        if isinstance(kept, dict) and isinstance(kept.get("value"), str):
            return kept["value"]
        if isinstance(kept, dict) and isinstance(kept.get("unsatisfiable"), str):
            raise Unsatisfiable(kept["unsatisfiable"])
        try:
            value = cached_draw(session, strategy)
        except Unsatisfiable as error:
            _write(path, {"unsatisfiable": str(error)})
            raise
        if isinstance(value, str):
            _write(path, {"value": value})
        return value

    memo_cached_draw.memo = folder  # type: ignore[attr-defined]
    memo_cached_draw.original = cached_draw  # type: ignore[attr-defined]
    memo_pattern_strategy.original = pattern_strategy  # type: ignore[attr-defined]
    return memo_pattern_strategy, memo_cached_draw


def _write(path: Path, content: dict[str, str]) -> None:
    """Whole or not at all: other runs may read the directory at the same time."""
    handle, scratch = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        json.dump(content, file)
    os.replace(scratch, path)
