"""The pytest plugin as an application team uses it: the built wheel in a fresh environment with
pytest, pytest-xdist and twilio only, running the example project with two workers."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT, Server, fresh_environment

PROJECT = Path(__file__).parent / "plugin_project"
README_SECTION = "## Using the fake from your tests"
# What the example project's environment holds besides the wheel, pinned as ours are.
REQUIREMENTS = ("pytest==9.1.1", "pytest-xdist==3.8.0", "twilio==9.13.0")


@dataclass
class Project:
    bin: Path
    directory: Path  # a copy of the example project, outside the repository

    def pytest(self, *options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "pytest"), "-n", "2", "-p", "no:cacheprovider", "-v", *options],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=300,
        )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, built_wheel: Path) -> Iterator[Project]:
    scratch = tmp_path_factory.mktemp("plugin")
    bin_dir = fresh_environment(scratch / "venv", str(built_wheel), *REQUIREMENTS)
    directory = scratch / "project"
    shutil.copytree(PROJECT, directory)
    # The README's example runs as written: its first code block, a test module of its own.
    (directory / "test_readme.py").write_text(readme_example())
    yield Project(bin_dir, directory)


def readme_example() -> str:
    section = (ROOT / "README.md").read_text().split(README_SECTION, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's testing section opens with a Python example"
    return match.group(1)


def passed_on_both_workers(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    collected = len(re.findall(r"^\[gw\d\] .*PASSED", output, re.M))
    assert re.search(rf"\b{collected} passed\b", output), output
    assert collected == 18, output  # the example project's 17 and the README's
    assert {"[gw0]", "[gw1]"} <= set(re.findall(r"\[gw\d\]", output)), output


def test_the_plugin_gives_each_worker_a_fake_and_each_test_an_account(project: Project) -> None:
    passed_on_both_workers(project.pytest())


def test_workers_sharing_one_running_fake_stay_isolated(project: Project) -> None:
    command = [str(project.bin / "twilio-fake"), "--port", "0", "--database", ":memory:"]
    with Server(command, cwd=project.directory) as shared:
        passed_on_both_workers(project.pytest(f"--twilio-fake-url={shared.url}"))
        log = shared.output_so_far()
    # Both workers' tests went to the one fake: each minted its own account there, and dropped it.
    assert len(set(re.findall(r"DELETE /_fake/accounts/(AC[0-9a-f]{32}) 204", log))) == 18, log


def test_the_options_are_in_pytest_help(project: Project) -> None:
    result = subprocess.run(
        [str(project.bin / "pytest"), "--help"],
        cwd=project.directory,
        capture_output=True,
        text=True,
        timeout=60,
    )
    for option in ("--twilio-fake-url", "--twilio-fake-fixtures", "--twilio-fake-pool-limit"):
        assert option in result.stdout
