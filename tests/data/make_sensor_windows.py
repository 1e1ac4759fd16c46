"""Regenerates tinygen/sensor_data/basicmotions_raw.csv.gz: the raw samples of BasicMotions, one row per sample, as
`tinygen train --group recording --window N` reads them. The source is the copy the aeon package bundles
(aeon/datasets/data/BasicMotions; not a tinygen dependency: `pip install --no-deps aeon` into any environment, then
`python3 tests/data/make_sensor_windows.py [AEON_DATA_DIR]`); make_sensor_features.py beside this file reads it.

BasicMotions (UEA multivariate time series archive, Bagnall et al. 2018; the .ts header: "generated as part of a
student project where four students performed four activities whilst wearing a smart watch"): the watch's 3-axis
accelerometer and 3-axis gyroscope at 10 Hz, 10 s (100 samples) per recording, 4 activities (Standing, Walking,
Running, Badminton), 20 recordings of each, 80 in all (the archive's 40 TRAIN + 40 TEST). No subject column is
given, so a recording is the unit of a held-out split.

Columns: recording (train01..train40, test01..test40: the archive's split and case number), time (seconds from the
recording's start), acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z (the archive's values: repr of the float64 each
.ts value parses to, which is its own text), activity."""
import gzip
import sys
from pathlib import Path

from make_sensor_features import CHANNELS, read_ts

SAMPLE_RATE_HZ = 10


def main(data_dir: Path, out_path: Path) -> None:
    with gzip.open(out_path, "wt", encoding="utf-8", compresslevel=9) as f:
        f.write(",".join(["recording", "time", *CHANNELS["BasicMotions"], "activity"]) + "\n")
        for split in ("TRAIN", "TEST"):
            for case, (series, label) in enumerate(read_ts(data_dir / "BasicMotions" / f"BasicMotions_{split}.ts")):
                recording = f"{split.lower()}{case + 1:02d}"
                for i in range(len(series[0])):
                    values = ",".join(repr(float(channel[i])) for channel in series)
                    f.write(f"{recording},{i / SAMPLE_RATE_HZ:g},{values},{label}\n")


if __name__ == "__main__":  # the argument: aeon's datasets/data directory, if aeon is not importable here
    out = Path(__file__).parents[2] / "tinygen" / "sensor_data" / "basicmotions_raw.csv.gz"
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]), out)
    else:
        import aeon
        main(Path(aeon.__file__).parent / "datasets" / "data", out)
