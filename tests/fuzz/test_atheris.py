"""A bounded run of every coverage-guided fuzz harness in fuzz/ (atheris, libFuzzer).

Each harness runs as its own process from its committed seed corpus
(``fuzz/corpus/<parser>/``) for at most ``ATHERIS_RUNS`` inputs or
``ATHERIS_SECONDS`` seconds, whichever comes first (defaults 20000 and 6: the
whole module takes well under two minutes). A crash fails the test and
prints the harness's report and the crashing input, with the command that
replays it. Without atheris the module is skipped, except under ``CI=true``,
where it fails: CI must not lose its fuzzing silently.

For a longer local run: ``ATHERIS_SECONDS=600 pytest tests/fuzz/test_atheris.py``,
or run a harness directly: ``python fuzz/fuzz_sdjwt.py -dict=fuzz/json.dict
fuzz/corpus/sdjwt``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "fuzz"
HARNESSES = sorted(path.stem.removeprefix("fuzz_") for path in FUZZ.glob("fuzz_*.py"))
# Harnesses whose inputs are mostly JSON get the JSON dictionary.
JSON_HARNESSES = {"strictjson", "jose", "attestation", "sdjwt", "privacypass"}
RUNS = int(os.environ.get("ATHERIS_RUNS", "20000"))
SECONDS = int(os.environ.get("ATHERIS_SECONDS", "6"))


@pytest.fixture(scope="module", autouse=True)
def _atheris_available() -> None:
    if importlib.util.find_spec("atheris") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("atheris is not installed: CI runs the fuzz harnesses (pip install atheris)")
    pytest.skip("atheris is not installed (pip install atheris)")


def test_every_parser_has_a_harness_and_seeds() -> None:
    expected = {
        "strictjson",
        "jose",
        "sdjwt",
        "attestation",
        "privacypass",
        "note",
        "checkpoint",
        "tiles",
    }
    assert set(HARNESSES) == expected
    for name in HARNESSES:
        assert any((FUZZ / "corpus" / name).iterdir()), name


def _report(name: str, output: str, artifacts: list[Path]) -> str:
    lines = [f"fuzz_{name}.py failed; its output ends:", *output.splitlines()[-60:]]
    for artifact in artifacts:
        lines += [
            f"reproducer {artifact.name} ({artifact.stat().st_size} bytes):",
            repr(artifact.read_bytes()),
            f"replay: {sys.executable} fuzz/fuzz_{name}.py {artifact}",
        ]
    return "\n".join(lines)


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_finds_no_crash(name: str, tmp_path: Path) -> None:
    new_inputs = tmp_path / "corpus"
    artifacts = tmp_path / "artifacts"
    new_inputs.mkdir()
    artifacts.mkdir()
    command = [
        sys.executable,
        str(FUZZ / f"fuzz_{name}.py"),
        f"-runs={RUNS}",
        f"-max_total_time={SECONDS}",
        "-seed=1",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
    ]
    if name in JSON_HARNESSES:
        command.append(f"-dict={FUZZ / 'json.dict'}")
    # New inputs go to the first directory; the committed seeds are only read.
    command += [str(new_inputs), str(FUZZ / "corpus" / name)]
    result = subprocess.run(  # noqa: S603 - this interpreter, a harness of ours
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=SECONDS * 4 + 60,
        check=False,
    )
    output = result.stdout + result.stderr
    crashes = sorted(artifacts.iterdir())
    assert result.returncode == 0 and not crashes, _report(name, output, crashes)
    runs = [
        line for line in output.splitlines() if line.startswith("stat::number_of_executed_units")
    ]
    print(f"fuzz_{name}: {runs[-1].split(':')[-1].strip() if runs else '?'} runs")
