"""Real raw sensor recordings that ship with tinygen, for `tinygen bench --dataset basicmotions`, the tests and the
README's window examples (nothing downloads at run time).

basicmotions_raw.csv.gz: BasicMotions from the UEA multivariate time series archive (Bagnall et al. 2018), as the
aeon package bundles it: a smart watch's 3-axis accelerometer and 3-axis gyroscope at 10 Hz, 10 s (100 samples) per
recording, 4 activities (Standing, Walking, Running, Badminton), 20 recordings of each. One row per sample, as
`tinygen train --group recording --time time --window N` reads it: recording, time (s), acc_x, acc_y, acc_z, gyro_x,
gyro_y, gyro_z, activity. tests/data/make_sensor_windows.py regenerates it from aeon's copy."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class RawSensorData:
    """A bundled raw CSV and the columns `load_windows` needs to cut it."""

    path: Path
    label: str
    group: str
    time: str
    sample_rate_hz: float
    channels: tuple[str, ...]


BASICMOTIONS = RawSensorData(path=HERE / "basicmotions_raw.csv.gz", label="activity", group="recording", time="time",
                             sample_rate_hz=10.0,
                             channels=("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"))
RAW_DATASETS = {"basicmotions": BASICMOTIONS}
