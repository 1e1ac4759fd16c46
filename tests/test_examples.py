"""The README's tour and Python example run as written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import need_tool

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_tour_script(tmp_path):
    need_tool("gcc")
    done = subprocess.run(["bash", str(EXAMPLES / "tour.sh"), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "0 of 569 rows differ" in done.stdout
    # the C program's score for row 1 equals the simulator's
    c_score = done.stdout.split("score ")[-1].split()[0]
    assert f"0,{c_score}" in done.stdout or f"1,{c_score}" in done.stdout


def test_python_quickstart(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py"), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "wine.h").is_file() and (tmp_path / "wine.json").is_file()
