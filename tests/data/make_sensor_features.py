"""Regenerates tests/data/*_features.csv.gz: per-window features of two real multichannel recordings that the
aeon package bundles (aeon/datasets/data; not a tinygen dependency: `pip install --no-deps aeon` into any
environment, then `python3 tests/data/make_sensor_features.py [AEON_DATA_DIR]`).

- BasicMotions (UEA archive): a smart watch's 3-axis accelerometer and 3-axis gyroscope, 100 samples at 10 Hz,
  4 activities (standing, walking, running, badminton), 80 recordings.
- JapaneseVowels (UCI, CC BY 4.0; Kudo, Toyama and Shimbo 1999): 12 LPC cepstrum channels of 9 speakers
  uttering /ae/, 7-29 frames, 640 recordings.

Per channel: mean, standard deviation, min, max, RMS, mean-crossing count, and (BasicMotions) the mean Hann-
windowed power in 4 FFT bands. Values are rounded to float32, what a device computes them in."""
import gzip
import sys
from pathlib import Path

import numpy as np

CHANNELS = {"BasicMotions": ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"],
            "JapaneseVowels": [f"lpc{k}" for k in range(1, 13)]}
SIMPLE = ["mean", "std", "min", "max", "rms", "crossings"]
BANDS = ["band1", "band2", "band3", "band4"]


def read_ts(path):
    """[(list of channel arrays, label)] from a .ts file."""
    cases, data = [], False
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        if line.lower() == "@data":
            data = True
            continue
        if data and line:
            *dims, label = line.split(":")
            cases.append(([np.array([float(v) for v in d.split(",") if v not in ("", "?")]) for d in dims], label))
    return cases


def channel_features(s, bands: bool) -> list:
    centred = s - s.mean()
    out = [s.mean(), s.std(), s.min(), s.max(), np.sqrt(np.mean(s * s)),
           float(np.sum(np.signbit(centred[1:]) != np.signbit(centred[:-1])))]
    if bands:
        power = np.abs(np.fft.rfft(s * np.hanning(len(s)))) ** 2
        out += [b.mean() for b in np.array_split(power[1:], 4)]
    return out


def main(data_dir: Path, out_dir: Path) -> None:
    for name, channels in CHANNELS.items():
        bands = name == "BasicMotions"
        cases = read_ts(data_dir / name / f"{name}_TRAIN.ts") + read_ts(data_dir / name / f"{name}_TEST.ts")
        header = [f"{c}_{f}" for c in channels for f in SIMPLE + (BANDS if bands else [])] + ["label"]
        with gzip.open(out_dir / f"{name.lower()}_features.csv.gz", "wt", encoding="utf-8", compresslevel=9) as f:
            f.write(",".join(header) + "\n")
            for series, label in cases:
                values = np.float32([v for s in series for v in channel_features(s, bands)])
                f.write(",".join(f"{v:.9g}" for v in values) + f",{label}\n")


if __name__ == "__main__":  # the argument: aeon's datasets/data directory, if aeon is not importable here
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]), Path(__file__).parent)
    else:
        import aeon
        main(Path(aeon.__file__).parent / "datasets" / "data", Path(__file__).parent)
