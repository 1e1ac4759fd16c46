"""README command 1 runs exactly as written on a stock Debian machine: with Debian's own /usr/bin/python3,
which is externally managed (PEP 668) and refuses `pip install` outside a virtual environment. CI's own
python (pyenv) is not externally managed, so this test puts /usr/bin first on PATH to see what users see."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


from conftest import need_tool, unavailable

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_PYTHON = Path("/usr/bin/python3")
# PATH of a stock Debian login shell: no pyenv, no ~/.local
STOCK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def readme_commands() -> dict[int, str]:
    """The numbered commands of the README's "Two commands" block: {1: "...", 2: "..."}; each is the first
    non-comment line after its `# N.` comment."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Two commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands, number = {}, None
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("# ") and stripped[2:3].isdigit() and stripped[3:4] == ".":
            number = int(stripped[2])
        elif stripped and not stripped.startswith("#") and number is not None and number not in commands:
            commands[number] = stripped
    return commands


def copy_checkout(destination: Path) -> None:
    """The files a fresh clone has, and uncommitted edits of them (git ls-files); outside a git checkout (a CI
    that copies the sources), the tree without what setting up and testing leave in it."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        shutil.copytree(ROOT, destination, dirs_exist_ok=True, symlinks=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "tinygen-demo", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache",
            ".hypothesis", "output"))
        return
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def test_readme_has_two_commands_that_do_not_pip_install_into_the_system():
    commands = readme_commands()
    assert set(commands) == {1, 2}, commands
    for command in commands.values():
        assert "pip install" not in command, f"{command!r}: pip into the system python fails under PEP 668"
    assert commands[2] == "bash tests/run.sh"


def test_command_1_on_debian_python(tmp_path):
    """Command 1 in a copy of the checkout, with Debian's python3 first on PATH: it makes a virtual
    environment, installs tinygen there (not editable: a wheel, as a user gets it) and runs the demo."""
    need_tool("gcc")
    if not DEBIAN_PYTHON.is_file():
        unavailable(f"{DEBIAN_PYTHON} (Debian's python3) is not here")
    checkout = tmp_path / "tinygen"
    checkout.mkdir()
    copy_checkout(checkout)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYENV", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = STOCK_PATH
    done = subprocess.run(["bash", "-c", readme_commands()[1]], cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "C vs simulator mismatches   0 of 143 rows (host gcc)" in done.stdout, done.stdout
    venv_config = (checkout / ".venv" / "pyvenv.cfg").read_text()
    assert "home = /usr/bin" in venv_config, venv_config  # Debian's python made it, not CI's
    assert (checkout / "tinygen-demo" / "breast_cancer.h").is_file()
