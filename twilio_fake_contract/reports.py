"""Contract reports: JUnit XML for CI systems, and a short Markdown summary for people."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus
from xml.etree import ElementTree

from .scenarios import Outcome


@dataclass
class Failure:
    operation: str
    check: str
    curl: str
    expected: str
    seen: str


@dataclass
class Stage:
    name: str
    seconds: float
    failures: list[Failure] = field(default_factory=list)
    cases: int = 0
    names: list[str] = field(default_factory=list)  # every case run, for the JUnit report
    skipped: list[Outcome] = field(default_factory=list)  # what could not be done, and why
    left_out: str = ""  # why the stage was not run at all (an option the user gave)

    @property
    def passed(self) -> bool:
        return not self.failures

    @classmethod
    def from_outcomes(cls, name: str, seconds: float, outcomes: list[Outcome]) -> Stage:
        failures = [
            Failure(f"{o.scenario}: {o.operation}", o.check, o.curl, o.expected, o.seen)
            for o in outcomes
            if o.failed
        ]
        done = [o.scenario for o in outcomes if not o.skipped]
        skipped = [o for o in outcomes if o.skipped]
        return cls(name, seconds, failures, len(done), done, skipped)


def write_junit(path: Path, stage: Stage) -> None:
    suite = ElementTree.Element(
        "testsuite", name=f"contract {stage.name}", tests=str(stage.cases),
        failures=str(len(stage.failures)), time=f"{stage.seconds:.3f}",
    )  # fmt: skip
    failed = {f.operation.split(":")[0]: f for f in stage.failures}
    for name in stage.names:
        case = ElementTree.SubElement(
            suite, "testcase", name=name, classname=f"contract.{stage.name}"
        )
        if name in failed:
            failure = failed[name]
            element = ElementTree.SubElement(case, "failure", message=failure.check)
            element.text = describe(failure)
    for outcome in stage.skipped:
        case = ElementTree.SubElement(
            suite, "testcase", name=outcome.scenario, classname=f"contract.{stage.name}"
        )
        ElementTree.SubElement(
            case, "skipped", message=f"not checked: {outcome.skipped}; enable: {outcome.enable}"
        )
    if stage.left_out:  # a CI system reading the file sees the stage was not run
        case = ElementTree.SubElement(
            suite, "testcase", name=stage.name, classname=f"contract.{stage.name}"
        )
        ElementTree.SubElement(case, "skipped", message=f"not run: {stage.left_out}")
    suite.set("skipped", str(len(stage.skipped) + bool(stage.left_out)))
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def describe(failure: Failure) -> str:
    lines = [f"operation: {failure.operation}", f"check: {failure.check}"]
    if failure.curl:
        lines.append(f"request: {failure.curl}")
    lines += [f"expected: {failure.expected}", f"seen: {failure.seen}"]
    return "\n".join(lines)


def verdict(stages: list[Stage]) -> str:
    """PASSED only when something was checked and nothing failed."""
    if not all(stage.passed for stage in stages):
        return "FAILED"
    if not stages or sum(stage.cases for stage in stages) == 0:
        return "NOTHING CHECKED"
    return "PASSED"


def not_checked(stages: list[Stage]) -> list[str]:
    """A line for each scenario the run could not do, and each stage that checked nothing."""
    lines = [
        f"- {o.scenario}: not checked: {o.skipped}. To check it: {o.enable}."
        for stage in stages
        for o in stage.skipped
    ]
    lines += [
        f"- {stage.name}: ran no case at all."
        for stage in stages
        if stage.cases == 0 and stage.passed and not stage.left_out
    ]
    lines += [f"- {stage.name}: not run: {stage.left_out}." for stage in stages if stage.left_out]
    return lines


def write(
    directory: Path,
    url: str,
    options: Any,
    stages: list[Stage],
    restored: list[str],
    secrets: Secrets | None = None,
) -> str:
    """Write contract-scenarios.xml and contract-summary.md (and contract-schemathesis.xml for
    a schemathesis stage left out: a run writes its own); return the summary."""
    secrets = secrets or Secrets([])
    for stage in stages:
        if stage.name != "schemathesis" or stage.left_out:
            write_junit(directory / f"contract-{stage.name}.xml", stage)
    mode = "read-only (GET only)" if options.read_only else "read-write"
    fuzzed = not any(stage.left_out for stage in stages if stage.name == "schemathesis")
    generation = (
        f"seed {options.seed}; max examples {options.max_examples}" if fuzzed
        else "the scenarios alone"
    )  # fmt: skip
    lines = [
        f"# Contract run: {verdict(stages)}",
        "",
        f"- target: {url}",
        f"- when: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%SZ')}",
        f"- mode: {mode}; {generation}" + (f"; rate {options.rate}" if options.rate else ""),
        "",
        "| stage | result | cases | failures | not checked | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for stage in stages:
        result = "not run" if stage.left_out else "passed" if stage.passed else "FAILED"
        lines.append(
            f"| {stage.name} | {result} | {stage.cases} | {len(stage.failures)} "
            f"| {len(stage.skipped)} | {stage.seconds:.1f} |"
        )
    skipped = not_checked(stages)
    if skipped:
        lines += ["", "## Not checked", "", *skipped]
    lines += [
        "",
        "Clean-up (the target's pools, services and numbers are as the run found them): "
        + ("; ".join(restored) if restored else "the run left nothing to undo")
        + ".",
    ]
    for stage in stages:
        for number, failure in enumerate(stage.failures, 1):
            lines += [
                "",
                f"## {stage.name} failure {number}: {failure.operation}",
                "",
                "```",
                describe(failure),
                "```",
            ]
    summary = secrets.scrub("\n".join(lines) + "\n")
    (directory / "contract-summary.md").write_text(summary)
    secrets.scrub_files(directory)
    return summary


class Secrets:
    """Passwords that must appear in no output: each written form of them is masked."""

    MASK = "[password]"

    def __init__(self, credentials: list[tuple[str, str]]) -> None:
        forms: set[str] = set()
        for user, password in credentials:
            if len(password) < 4:  # too short to mask without mangling the rest of the text
                continue
            forms |= {password, quote(password, safe=""), quote_plus(password)}
            forms.add(base64.b64encode(f"{user}:{password}".encode()).decode())
        self.forms = sorted(forms, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, self.MASK)
        return text

    def scrub_files(self, directory: Path) -> None:
        """Mask them in every report the run wrote (schemathesis's own included)."""
        if not self.forms:
            return
        for path in directory.glob("contract-*"):
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                scrubbed = self.scrub(text)
                if scrubbed != text:
                    path.write_text(scrubbed, encoding="utf-8")
