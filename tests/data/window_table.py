"""Prints the accuracy of window pipelines on real raw sensor data, held out by recording, as float pipelines and as the
integer programs tinygen exports (q15 and q7: the simulator, which the C equals on every window): BasicMotions'
raw samples (tests/data/basicmotions_raw.csv.gz, made by make_sensor_windows.py) cut into windows as
`tinygen train --group recording --time time --window N --hop H [--channels acc_x,acc_y,acc_z]` cuts them, and the Pipeline(WindowFeatures,
scaler, model) that train fits (tinygen.train.window_pipeline: the same presets, a scaler but for the forest).

Accuracy is over the windows of held-out recordings, pooled over 5 folds of StratifiedGroupKFold (shuffled, seed 0):
every recording is held out once, whole, and the folds keep the activities balanced. Run from the repository root:
`python3 tests/data/window_table.py` (about 30 s on two cores)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

import tinygen
from tinygen import train
from tinygen.windows import load_windows

RAW = Path(__file__).parent / "basicmotions_raw.csv.gz"
STATS = "mean,std,min,max,rms,crossings"
ACC = ["acc_x", "acc_y", "acc_z"]
# (features, window, hop, channels): the default statistics on whole recordings and on overlapping windows, every
# statistic, the statistics with 8 FFT bands (linear and log2) on 64-sample windows (an FFT needs a power of two),
# and the accelerometer alone (issue 16's cost case: 64 samples x 3 channels, statistics and 8 FFT bands; and short
# windows)
CONFIGS = [
    (STATS, 100, 100, None),
    (STATS, 64, 32, None),
    (STATS, 32, 16, None),
    ("mean,var,std,rms,min,max,ptp,crossings,mad", 64, 32, None),
    (STATS + ",fft8", 64, 32, None),
    (STATS + ",fft8log", 64, 32, None),
    (STATS + ",fft4log", 32, 16, None),
    ("mean,std,fft8log", 64, 32, None),
    (STATS, 64, 32, ACC),
    (STATS + ",fft8", 64, 32, ACC),
    (STATS + ",fft8log", 64, 32, ACC),
    (STATS, 16, 8, ACC),  # 1.6 s windows: harder, room to see an integer pipeline lose accuracy
    ("mean,std,fft4log", 16, 8, ACC),
]
KINDS = ("forest", "logreg", "mlp")


DTYPES = ("float", "q15", "q7")


def held_out_accuracy(windows, kind: str, features: str, folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Per dtype, the share of windows predicted right by a pipeline fitted (and, for q15 and q7, converted with
    its training windows as calibration) on the other folds' recordings."""
    hits = dict.fromkeys(DTYPES, 0)
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    for fit_rows, test_rows in splitter.split(windows.X, windows.y, windows.groups):
        model = train.window_pipeline(kind, "classification", windows.window, windows.channel_names,
                                      features=features, hop=windows.hop, seed=seed, sample_rate=10.0)
        model.fit(windows.X[fit_rows], windows.y[fit_rows])
        truth = windows.y[test_rows]
        hits["float"] += int((model.predict(windows.X[test_rows]) == truth).sum())
        for dtype in DTYPES[1:]:
            program = tinygen.convert(model, dtype=dtype, calibration=windows.X[fit_rows])
            hits[dtype] += int((program.predict(windows.X[test_rows]) == truth).sum())
    return {dtype: count / windows.n_windows for dtype, count in hits.items()}


def main() -> None:
    print(f"BasicMotions raw samples ({RAW.name}): accuracy on held-out recordings (StratifiedGroupKFold 5 over the "
          "80 recordings), float pipeline / q15 / q7 integer program")
    print("| channels | features | window / hop | windows | " + " | ".join(KINDS) + " |")
    print("|---|---|---|---|" + "---|" * len(KINDS))
    for features, window, hop, channels in CONFIGS:
        windows = load_windows(RAW, label="activity", group="recording", time="time", window=window, hop=hop,
                               channels=channels)
        scores = [held_out_accuracy(windows, kind, features) for kind in KINDS]
        cells = [" / ".join(f"{score[d]:.4f}" for d in DTYPES) for score in scores]
        print(f"| {'acc' if channels else 'acc+gyro'} | {features} | {window} / {hop} | {windows.n_windows} | "
              + " | ".join(cells) + " |")
        sys.stdout.flush()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
