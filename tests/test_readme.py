"""The README's promises that a test can hold: its two commands and its command table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ageverify.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_run_and_test_commands() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


COMMANDS = sorted(set(re.findall(r"`ageverify ([a-z-]+(?: [a-z-]+)?)", README)))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_in_the_readme_exists(command: str) -> None:
    words = [word for word in command.split() if not word.isupper()]
    result = CliRunner().invoke(main, [*words, "--help"])
    assert result.exit_code == 0, result.output


def test_the_readme_names_commands() -> None:
    assert {"init --dev", "demo", "serve", "keys generate-ahead"} <= set(COMMANDS)
