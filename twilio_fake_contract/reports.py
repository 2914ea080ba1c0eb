"""Contract reports: JUnit XML for CI systems, and a short Markdown summary for people."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
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

    @property
    def passed(self) -> bool:
        return not self.failures

    @classmethod
    def from_outcomes(cls, name: str, seconds: float, outcomes: list[Outcome]) -> Stage:
        failures = [
            Failure(f"{o.scenario}: {o.operation}", o.check, o.curl, o.expected, o.seen)
            for o in outcomes
            if not o.passed
        ]
        return cls(name, seconds, failures, len(outcomes), [o.scenario for o in outcomes])


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
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def describe(failure: Failure) -> str:
    lines = [f"operation: {failure.operation}", f"check: {failure.check}"]
    if failure.curl:
        lines.append(f"request: {failure.curl}")
    lines += [f"expected: {failure.expected}", f"seen: {failure.seen}"]
    return "\n".join(lines)


def write(directory: Path, url: str, options: Any, stages: list[Stage], restored: list[str]) -> str:
    """Write contract-scenarios.xml and contract-summary.md; return the summary."""
    for stage in stages:
        if stage.name != "schemathesis":  # schemathesis writes its own JUnit report
            write_junit(directory / f"contract-{stage.name}.xml", stage)
    verdict = "PASSED" if all(s.passed for s in stages) else "FAILED"
    mode = "read-only (GET only)" if options.read_only else "read-write"
    lines = [
        f"# Contract run: {verdict}",
        "",
        f"- target: {url}",
        f"- when: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%SZ')}",
        f"- mode: {mode}; seed {options.seed}; max examples {options.max_examples}"
        + (f"; rate {options.rate}" if options.rate else ""),
        "",
        "| stage | result | cases | failures | seconds |",
        "|---|---|---|---|---|",
    ]
    for stage in stages:
        result = "passed" if stage.passed else "FAILED"
        lines.append(
            f"| {stage.name} | {result} | {stage.cases} | {len(stage.failures)} "
            f"| {stage.seconds:.1f} |"
        )
    lines += [
        "",
        "Clean-up (the target's pools are as the run found them): "
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
    summary = "\n".join(lines) + "\n"
    (directory / "contract-summary.md").write_text(summary)
    return summary
