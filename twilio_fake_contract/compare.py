"""Compare mode: the same scenarios against two servers, step by step; where do they differ?

Each scenario runs against the first server, then against the second. Every request a scenario
makes is a step; the n-th step of one is compared with the n-th step of the other: the request,
the status, Twilio's error code and message, the headers the contract names for that answer,
and every field of the body. What must differ between two servers is normalised first, in every
string: each server's own base URL, its SIDs (the ones the run was given by name, the others in
order of appearance), dates, request ids and page tokens.

A difference can be accepted knowingly with an ignore pattern, `[SCENARIO:]FIELD` (shell-style
wildcards), e.g. `body.phone_numbers[*].phone_number` or `wrong password*:message`.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

from . import contract, scenarios
from .scenarios import Call, Client, Outcome, Scenario, Target

DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} (?:GMT|[+-]\d{4})"
)
REQUEST_ID = re.compile(r"\bRQ[0-9a-fA-F]{32}\b")
SID = re.compile(r"\b([A-Z]{2})[0-9a-fA-F]{32}\b")


class Normaliser:
    """Rewrites one server's answers into terms that can be compared with another's."""

    def __init__(self, target: Target, *, option_names: dict[str, str]) -> None:
        self.base = target.url.rstrip("/")
        self.known: dict[str, str] = {}
        named: list[tuple[str, str | None]] = [
            ("user", target.user),
            ("service", target.service),
            ("service2", target.service2),
            ("voice_only", target.voice_only),
        ]
        named += [(f"numbers[{i}]", sid) for i, sid in enumerate(target.numbers)]
        for name, sid in named:
            if sid:
                self.known.setdefault(sid, "{" + option_names.get(name, name) + "}")
        self.seen: dict[str, str] = {}
        self.counts: defaultdict[str, int] = defaultdict(int)
        self.token = re.compile(rf"({re.escape(contract.pool().page_token)}=)[^&\s\"']+")

    def _sid(self, match: re.Match[str]) -> str:
        sid = match.group(0)
        if sid in self.known:
            return self.known[sid]
        if sid not in self.seen:
            self.counts[match.group(1)] += 1
            self.seen[sid] = "{" + f"{match.group(1)}#{self.counts[match.group(1)]}" + "}"
        return self.seen[sid]

    def text(self, value: str) -> str:
        value = value.replace(self.base, "{server}")
        # Twilio writes its own URLs as https://…: the server's own host, in any scheme.
        host = urlsplit(self.base).netloc
        value = re.sub(rf"https?://{re.escape(host)}(?=[/?\s\"']|$)", "{server}", value)
        value = self.token.sub(r"\1{token}", value)
        value = DATE.sub("{date}", value)
        value = REQUEST_ID.sub("{request id}", value)
        value = scenarios.RECEIVER_URL.sub("{kit receiver}", value)
        return SID.sub(self._sid, value)

    def value(self, value: Any) -> Any:
        return self.text(value) if isinstance(value, str) else value

    def step(self, call: Call, spec: contract.Contract) -> dict[str, Any]:
        """The step as the fields compared: request, status, code, message, headers, body."""
        response = call.response
        path = urlsplit(call.url).path
        fields: dict[str, Any] = {
            "request": self.text(f"{call.method} {call.url}"),
            "status": response.status_code,
        }
        if call.data:
            fields["request"] += " " + self.text(
                "&".join(f"{key}={value}" for key, value in call.data.items())
            )
        operation = spec.operation_for(call.method, path)
        names = ["Content-Type"]
        if operation is not None:
            names += spec.response_headers(operation, response.status_code)
        for name in names:
            fields[f"header.{name}"] = self.value(response.headers.get(name))
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        if isinstance(body, dict):
            for key in ("code", "message"):
                if key in body:
                    fields[key] = self.value(body[key])
            for key, value in flatten(body):
                if key not in ("code", "message"):
                    fields[f"body.{key}"] = self.value(value)
        elif body is not None:
            fields["body"] = self.value(body) if isinstance(body, str) else body
        return fields


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf of a JSON value with its path: `meta.url`, `phone_numbers[0].sid`."""
    if isinstance(value, dict):
        if not value:
            return [(prefix, {})]
        items = []
        for key, item in value.items():
            items += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return items
    if isinstance(value, list):
        if not value:
            return [(prefix, [])]
        items = []
        for index, item in enumerate(value):
            items += flatten(item, f"{prefix}[{index}]")
        return items
    return [(prefix, value)]


@dataclass
class Difference:
    scenario: str
    step: int  # 1-based; 0 for the scenario's verdict
    request: str  # the first server's request, normalised
    field: str
    first: Any
    second: Any
    curls: tuple[str, str] = ("", "")
    ignored_by: str = ""

    def line(self) -> str:
        where = f"step {self.step}: {self.field}" if self.step else self.field
        return f"{self.scenario}, {where}: {self.first!r} vs {self.second!r}"


@dataclass
class Comparison:
    scenario: str
    differences: list[Difference] = field(default_factory=list)
    skipped: str = ""
    enable: str = ""
    steps: int = 0
    seconds: float = 0.0
    verdicts: tuple[str, str] = ("", "")  # the scenario's own checks on each server

    @property
    def differs(self) -> bool:
        return any(not d.ignored_by for d in self.differences)


class Ignore:
    """Documented differences to accept: `[SCENARIO:]FIELD`, shell-style wildcards."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = patterns

    @classmethod
    def parse(cls, values: list[str]) -> Ignore:
        """Comma-separated patterns, or `@FILE` (one a line; `#` starts a comment)."""
        patterns: list[str] = []
        for value in values:
            if value.startswith("@"):
                lines = Path(value[1:]).read_text(encoding="utf-8").splitlines()
                patterns += [ln.split("#", 1)[0].strip() for ln in lines]
            else:
                patterns += [part.strip() for part in value.split(",")]
        return cls([p for p in patterns if p])

    def match(self, difference: Difference) -> str:
        for pattern in self.patterns:
            scenario, _, field_pattern = pattern.rpartition(":")
            if fnmatch.fnmatchcase(difference.field, field_pattern) and (
                not scenario or fnmatch.fnmatchcase(difference.scenario, scenario)
            ):
                return pattern
        return ""


OPTION_NAMES = {
    "user": "user",
    "service": "service",
    "service2": "service2",
    "voice_only": "voice-only",
}


def compare_scenario(
    scenario: Scenario, first: Target, second: Target, ignore: Ignore, read_only: bool
) -> Comparison:
    started = time.monotonic()
    for which, target in (("", first), ("compare-", second)):
        missing = scenario.missing(target, read_only)
        if missing is not None:
            enable = missing.enable.replace("--", f"--{which}")
            return Comparison(scenario.name, skipped=missing.reason.replace("--", f"--{which}"),
                              enable=enable)  # fmt: skip
    runs: list[tuple[Outcome, list[dict[str, Any]], list[Call]]] = []
    spec = contract.bundled()
    for target in (first, second):
        client = Client(target)
        try:
            outcome = scenarios.run_one(scenario, client)
        finally:
            client.session.close()
        normaliser = Normaliser(target, option_names=OPTION_NAMES)
        runs.append((outcome, [normaliser.step(c, spec) for c in client.calls], client.calls))
    (outcome_a, steps_a, calls_a), (outcome_b, steps_b, calls_b) = runs
    result = Comparison(scenario.name, steps=max(len(steps_a), len(steps_b)))
    for index in range(result.steps):
        a = steps_a[index] if index < len(steps_a) else {}
        b = steps_b[index] if index < len(steps_b) else {}
        request = a.get("request") or b.get("request", "")
        curls = (
            calls_a[index].curl() if index < len(calls_a) else "",
            calls_b[index].curl().replace("TWILIO_CONTRACT_PASSWORD", "TWILIO_COMPARE_PASSWORD")
            if index < len(calls_b)
            else "",
        )
        if not a or not b:
            result.differences.append(
                Difference(scenario.name, index + 1, request, "step",
                           "made" if a else "not made", "made" if b else "not made", curls)
            )  # fmt: skip
            continue
        for key in [*a, *(k for k in b if k not in a)]:
            if a.get(key) != b.get(key):
                result.differences.append(
                    Difference(
                        scenario.name, index + 1, request, key, a.get(key), b.get(key), curls
                    )
                )
    verdicts = (_verdict(outcome_a), _verdict(outcome_b))
    result.verdicts = verdicts
    if verdicts[0] != verdicts[1]:
        result.differences.append(
            Difference(scenario.name, 0, "", "verdict", verdicts[0], verdicts[1])
        )
    for difference in result.differences:
        difference.ignored_by = ignore.match(difference)
    result.seconds = time.monotonic() - started
    return result


def _verdict(outcome: Outcome) -> str:
    if outcome.skipped:
        return f"not checked: {outcome.skipped}"
    if outcome.passed:
        return "passed"
    return f"FAILED ({outcome.check}: expected {outcome.expected})"


def run(first: Target, second: Target, ignore: Ignore, read_only: bool) -> list[Comparison]:
    return [
        compare_scenario(scenario, first, second, ignore, read_only)
        for scenario in scenarios.scenarios(read_only)
    ]


def verdict(comparisons: list[Comparison]) -> str:
    if any(c.differs for c in comparisons):
        return "DIFFERENT"
    if not any(c.steps for c in comparisons):
        return "NOTHING COMPARED"
    return "NO DIFFERENCE"


def write_junit(path: Path, comparisons: list[Comparison]) -> None:
    suite = ElementTree.Element(
        "testsuite", name="contract compare", tests=str(len(comparisons)),
        failures=str(sum(c.differs for c in comparisons)),
        skipped=str(sum(bool(c.skipped) for c in comparisons)),
        time=f"{sum(c.seconds for c in comparisons):.3f}",
    )  # fmt: skip
    for comparison in comparisons:
        case = ElementTree.SubElement(
            suite, "testcase", name=comparison.scenario, classname="contract.compare"
        )
        if comparison.skipped:
            ElementTree.SubElement(
                case, "skipped",
                message=f"not compared: {comparison.skipped}; enable: {comparison.enable}",
            )  # fmt: skip
        elif comparison.differs:
            differing = [d for d in comparison.differences if not d.ignored_by]
            element = ElementTree.SubElement(
                case,
                "failure",
                message=f"{len(differing)} differences; first: {differing[0].line()}",
            )
            element.text = "\n".join(_describe(d) for d in differing)
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def _describe(difference: Difference) -> str:
    lines = [difference.line()]
    if difference.request:
        lines.append(f"  request: {difference.request}")
    for label, curl in zip(("first", "second"), difference.curls, strict=True):
        if curl:
            lines.append(f"  {label}: {curl}")
    return "\n".join(lines)


def summary(first: Target, second: Target, comparisons: list[Comparison], notes: list[str]) -> str:
    lines = [
        f"# Contract comparison: {verdict(comparisons)}",
        "",
        f"- first: {first.url}",
        f"- second: {second.url}",
        "- compared: the request, status, code, message, the headers the contract names and "
        "every body field of each step, once SIDs, dates, request ids, page tokens and each "
        "server's own URL are normalised",
        "",
        "| scenario | steps | differences | accepted (--compare-ignore) | its checks |",
        "|---|---|---|---|---|",
    ]
    for c in comparisons:
        if c.skipped:
            lines.append(f"| {c.scenario} | not compared | | | |")
            continue
        accepted = sum(bool(d.ignored_by) for d in c.differences)
        checks = c.verdicts[0] if c.verdicts[0] == c.verdicts[1] else " / ".join(c.verdicts)
        lines.append(
            f"| {c.scenario} | {c.steps} | {len(c.differences) - accepted} | {accepted} "
            f"| {checks} |"
        )
    skipped = [c for c in comparisons if c.skipped]
    if skipped:
        lines += ["", "## Not compared", ""]
        lines += [f"- {c.scenario}: {c.skipped}. To compare it: {c.enable}." for c in skipped]
    if notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in notes)]
    for c in comparisons:
        differing = [d for d in c.differences if not d.ignored_by]
        if differing:
            lines += ["", f"## Differences: {c.scenario}", "", "```"]
            lines += [_describe(d) for d in differing]
            lines += ["```"]
    accepted_all = [d for c in comparisons for d in c.differences if d.ignored_by]
    if accepted_all:
        lines += ["", "## Accepted differences", ""]
        lines += [f"- {d.line()} (accepted by `{d.ignored_by}`)" for d in accepted_all]
    return "\n".join(lines) + "\n"
