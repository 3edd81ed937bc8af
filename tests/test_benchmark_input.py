"""The input benchmark runs end to end on tiny videos and prints its table."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` skips them

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_input_prints_a_row_per_modality_and_thread_count():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.benchmark_input",
            "--modalities=rgb,flow",
            "--threads=1",
            "--videos=1",
            "--seconds=1",
            "--fps=12",
            "--size=40,48",
            "--segments=3",
            "--clips=2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("| rgb") or line.startswith("| flow")
    ]
    assert [row.split("|")[1:4] for row in rows] == [
        [" rgb ", " 1 ", " 1 "],
        [" flow ", " 5 ", " 1 "],
    ]
    for row in rows:
        sampled, everything = (float(v) for v in row.split("|")[4:6])
        assert sampled > 0 and everything > 0
