"""Prints the accuracy of window pipelines on real raw sensor data, held out by recording, as float pipelines and as the
integer programs tinygen exports (q15 and q7: the simulator, which the C equals on every window), for several
window, channel and feature choices: BasicMotions' raw samples (tinygen/sensor_data) cut into windows as
`tinygen train --group recording --time time --window N --hop H [--channels acc_x,acc_y,acc_z]` cuts them, and the
Pipeline(WindowFeatures, scaler, model) that train fits (the same presets, a scaler but for the forest).

One row is what `tinygen bench --dataset basicmotions --window N --hop H --channels ... --features SPEC` prints
(tinygen/bench_windows.py: 5 folds of StratifiedGroupKFold, shuffled, seed 0; every recording held out once, whole).
Run from the repository root: `python3 tests/data/window_table.py` (about 50 s on two cores)."""
from __future__ import annotations

import sys

import numpy as np

from tinygen.bench_windows import ACCURACY_DTYPES, WINDOW_MODELS, case_windows, held_out_accuracy, window_case
from tinygen.sensor_data import BASICMOTIONS

STATS = "mean,std,min,max,rms,crossings"
ACC = ("acc_x", "acc_y", "acc_z")
# (features, window, hop, channels): the default statistics on whole recordings and on overlapping windows, every
# statistic, the statistics with 8 FFT bands (linear and log2) on 64-sample windows (an FFT needs a power of two),
# and the accelerometer alone (issue 16's cost case: 64 samples x 3 channels, statistics and 8 FFT bands; and short
# windows)
CONFIGS = [
    (STATS, 100, 100, BASICMOTIONS.channels),
    (STATS, 64, 32, BASICMOTIONS.channels),
    (STATS, 32, 16, BASICMOTIONS.channels),
    ("mean,var,std,rms,min,max,ptp,crossings,mad", 64, 32, BASICMOTIONS.channels),
    (STATS + ",fft8", 64, 32, BASICMOTIONS.channels),
    (STATS + ",fft8log", 64, 32, BASICMOTIONS.channels),
    (STATS + ",fft4log", 32, 16, BASICMOTIONS.channels),
    ("mean,std,fft8log", 64, 32, BASICMOTIONS.channels),
    (STATS, 64, 32, ACC),
    (STATS + ",fft8", 64, 32, ACC),
    (STATS + ",fft8log", 64, 32, ACC),
    (STATS, 16, 8, ACC),  # 1.6 s windows: harder, room to see an integer pipeline lose accuracy
    ("mean,std,fft4log", 16, 8, ACC),
]


def main() -> None:
    dtypes = ("float", *ACCURACY_DTYPES)
    print("BasicMotions raw samples: accuracy on held-out recordings (StratifiedGroupKFold 5 over the 80 recordings), "
          f"{' / '.join(dtypes)}")
    print("| channels | features | window / hop | windows | " + " | ".join(WINDOW_MODELS) + " |")
    print("|---|---|---|---|" + "---|" * len(WINDOW_MODELS))
    for features, window, hop, channels in CONFIGS:
        case = window_case("basicmotions", window, hop, channels, features)
        scores = [held_out_accuracy(case, model) for model in WINDOW_MODELS]
        cells = [" / ".join(f"{score[d]:.4f}" for d in dtypes) for score in scores]
        print(f"| {'acc' if channels == ACC else 'acc+gyro'} | {features} | {window} / {hop} | "
              f"{case_windows(case).n_windows} | " + " | ".join(cells) + " |")
        sys.stdout.flush()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
