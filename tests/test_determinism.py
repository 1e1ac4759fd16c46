"""Determinism (issue 8): the same commands give byte-identical files — the trained .skops, NAME.h, NAME.json,
every package format and simulate's CSV — in two processes with different PYTHONHASHSEEDs, run from
different working directories into differently named output directories; and no file holds a path of the
machine, its host name or today's date."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import tinygen

# One session of the CLI, in the process the test starts: data sets, training, every export format over
# the model families and dtypes, and the simulator's CSV. argv[1] is the output folder (relative).
SESSION = r'''
import csv
import sys
from pathlib import Path

from tinygen.cli import main


def tinygen(*args):
    main([str(a) for a in args], standalone_mode=False)


out = Path(sys.argv[1])
data = out / "data"
data.mkdir(parents=True)
for dataset in ("wine", "breast_cancer", "diabetes"):
    tinygen("dataset", dataset, "-o", data / f"{dataset}.csv")
# string labels that do not sort in their order of appearance, and feature names C and JSON must escape
with open(data / "wine.csv", newline="") as source, open(data / "labels.csv", "w", newline="") as target:
    rows = list(csv.reader(source))
    writer = csv.writer(target)
    writer.writerow([f'f{i} "*/ \u00b0C' for i in range(len(rows[0]) - 1)] + ["label"])
    writer.writerows(row[:-1] + [["zeta", "alpha", "mu \u00e9"][int(float(row[-1]))]] for row in rows[1:])
models = out / "models"
models.mkdir()
trained = [("logreg", "labels", "label", []), ("forest", "wine", "target", []),
           ("hist-gbt", "breast_cancer", "target", ["--param", "max_iter=10"]),
           ("mlp", "breast_cancer", "target", ["--param", "hidden_layer_sizes=8", "--param", "max_iter=200"]),
           ("gnb", "wine", "target", []), ("isolation-forest", "breast_cancer", "target", []),
           ("ridge", "diabetes", "target", []), ("gbt", "diabetes", "target", ["--param", "n_estimators=10"])]
for kind, dataset, label, params in trained:
    tinygen("train", data / f"{dataset}.csv", "--label", label, "--model", kind, *params, "-o", models / f"{kind}.skops")
exports = [("logreg", "labels", "label", ["--dtype", "q15", "--format", "arduino"]),
           ("logreg", "labels", "label", ["--dtype", "q7", "--format", "esp-idf"]),
           ("logreg", "labels", "label", ["--dtype", "float32", "--format", "platformio"]),
           ("logreg", "labels", "label", ["--dtype", "int8", "--format", "tflite"]),
           ("forest", "wine", "target", ["--format", "arduino"]),
           ("forest", "wine", "target", ["--layout", "inline", "--bins"]),
           ("forest", "wine", "target", ["--dtype", "q15", "--layout", "table", "--format", "esp-idf"]),
           ("forest", "wine", "target", ["--dtype", "float32"]),
           ("hist-gbt", "breast_cancer", "target", ["--format", "platformio"]),
           ("mlp", "breast_cancer", "target", ["--dtype", "int8", "--format", "tflite"]),
           ("mlp", "breast_cancer", "target", ["--dtype", "q7", "--format", "arduino"]),
           ("gnb", "wine", "target", ["--dtype", "q15"]),
           ("isolation-forest", "breast_cancer", "target", ["--format", "esp-idf"]),
           ("ridge", "diabetes", "target", ["--dtype", "q31"]),
           ("gbt", "diabetes", "target", ["--layout", "table"])]
for number, (kind, dataset, label, options) in enumerate(exports):
    tinygen("export", models / f"{kind}.skops", "--calibration", data / f"{dataset}.csv", "--label", label,
            "--name", kind.replace("-", "_"), *options, "-o", out / "exports" / str(number))
tinygen("simulate", out / "exports" / "0" / "logreg.json", data / "labels.csv", "--label", "label", "-o", out / "labels_sim.csv")
tinygen("simulate", out / "exports" / "5" / "forest.json", data / "wine.csv", "--label", "target", "-o", out / "forest_sim.csv")
'''


def session(cwd: Path, output: str, hash_seed: str) -> subprocess.Popen:
    cwd.mkdir(parents=True)
    source_root = str(Path(tinygen.__file__).resolve().parent.parent)  # this checkout, not an installed copy
    env = {**os.environ, "PYTHONHASHSEED": hash_seed,
           "PYTHONPATH": os.pathsep.join(p for p in (source_root, os.environ.get("PYTHONPATH")) if p)}
    return subprocess.Popen([sys.executable, "-c", SESSION, output], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def files(root: Path) -> dict[str, bytes]:
    """Every file under root by relative path; zip archives (.zip, .skops) also by member, uncompressed."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            out[rel] = path.read_bytes()
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    out.update({f"{rel}!{member}": archive.read(member) for member in archive.namelist()})
    return out


def test_two_sessions_write_the_same_bytes(tmp_path):
    first = session(tmp_path / "one", "out", "0")
    second = session(tmp_path / "two" / "somewhere" / "else", "other_name/deeper", "4242")
    for process in (first, second):
        log, _ = process.communicate(timeout=600)
        assert process.returncode == 0, log[-3000:]
    written = files(tmp_path / "one" / "out")
    again = files(tmp_path / "two" / "somewhere" / "else" / "other_name" / "deeper")
    assert sorted(written) == sorted(again)
    assert len([name for name in written if name.endswith(".h")]) >= 15 and any(name.endswith(".tflite") for name in written)
    differ = [name for name in written if written[name] != again[name]]
    assert not differ, differ
    # nothing of the machine, the place or the time: paths (also as the JSON and C escapes would write
    # them), the host name, today's date
    today = time.localtime()
    leaks = [str(tmp_path), str(tmp_path).replace("/", "\\/"), socket.gethostname(), time.strftime("%Y-%m-%d", today),
             time.strftime("%Y%m%d", today), time.strftime("%d %b %Y", today), time.strftime("%b %d %Y", today)]
    for name, data in written.items():
        for leak in leaks:
            if len(leak) >= 4:
                assert leak.encode() not in data, f"{name} holds {leak!r}"
    for name, data in written.items():  # zip members carry fixed dates, not the time of the run
        if name.endswith((".zip", ".skops")):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}, name
