"""WindowFeatures (tinygen/features.py): a scikit-learn transformer from flattened time-major windows to
featurespec's float features: its parameters, clone, pipelines, names, errors, NaN/inf as its docstring says, and
the skops round trip through modelio."""
from __future__ import annotations

import numpy as np
import pytest
import skops.io
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tinygen import featurespec, modelio
from tinygen.errors import TinygenError
from tinygen.features import DEFAULT_FEATURES, WindowError, WindowFeatures

CHANNELS = ["acc_x", "acc_y", "acc_z"]


def windows(rows: int = 60, window: int = 32, channels: int = 3, seed: int = 0):
    """(X [rows, window * channels], y): two classes told apart by the amplitude of a noisy sine."""
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % 2
    t = np.arange(window)[None, :, None]
    amplitude = (1.0 + 2.0 * y)[:, None, None]
    frames = amplitude * np.sin(2 * np.pi * t / 8 + rng.uniform(0, 6, (rows, 1, channels)))
    frames = frames + rng.normal(0, 0.3, (rows, window, channels))
    return frames.reshape(rows, window * channels), y


def test_params_clone_and_defaults():
    step = WindowFeatures(window=32, channels=CHANNELS, features="mean,std,fft4", sample_rate=50.0, hop=16)
    assert step.get_params() == {"window": 32, "channels": CHANNELS, "features": "mean,std,fft4",
                                 "sample_rate": 50.0, "hop": 16}
    copy = clone(step)
    assert copy is not step and copy.get_params() == step.get_params()
    copy.set_params(features=["rms", "ptp"], window=16)
    assert copy.features == ["rms", "ptp"] and step.features == "mean,std,fft4"
    assert WindowFeatures().features == DEFAULT_FEATURES


def test_transform_is_featurespec_and_names():
    X, _ = windows()
    step = WindowFeatures(32, CHANNELS, "mean,std,crossings,fft4log").fit(X)
    specs = featurespec.parse("mean,std,crossings,fft4log", 32)
    assert step.n_features_in_ == 96
    np.testing.assert_array_equal(step.transform(X), featurespec.window_features(X, 32, 3, specs))
    names = featurespec.feature_names(CHANNELS, specs)
    assert list(step.get_feature_names_out()) == names
    assert names[:4] == ["acc_x_mean", "acc_x_std", "acc_x_crossings", "acc_x_fft4log_0"]
    assert list(WindowFeatures(32, 3, "mean").fit(X).get_feature_names_out()) == ["ch0_mean", "ch1_mean", "ch2_mean"]


def test_pipeline_fits_and_predicts():
    X, y = windows()
    pipeline = Pipeline([("features", WindowFeatures(32, CHANNELS, "mean,std,rms")), ("scale", StandardScaler()),
                         ("model", RandomForestClassifier(n_estimators=5, random_state=0))]).fit(X, y)
    assert pipeline.score(X, y) > 0.9
    assert list(pipeline[:-1].get_feature_names_out())[:3] == ["acc_x_mean", "acc_x_std", "acc_x_rms"]
    refit = clone(pipeline).fit(X, y)
    np.testing.assert_array_equal(refit.predict(X), pipeline.predict(X))


@pytest.mark.parametrize("params, message", [
    ({"window": 1}, "window must be a whole number of samples, at least 2"),
    ({"window": 2.5}, "window must be a whole number"),
    ({"features": "mean,foo"}, "unknown feature 'foo'"),
    ({"features": "fft4"}, "fft4 needs a window of 16, 32, 64, 128 or 256 samples, not 30"),
    ({"features": "bp:1-3"}, "give the sample rate"),
    ({"features": "bp:1-3", "sample_rate": -5}, "sample_rate must be a positive number"),
    ({"channels": 0}, "channels must be at least 1"),
    ({"channels": "acc_x"}, "channels must be a count or a list of channel names"),
    ({"channels": ["a", "a", "b"]}, "channel names must differ"),
    ({"hop": 0}, "hop must be a whole number of samples, at least 1"),
    ({"channels": 2}, "each row must hold one window of 30 samples x 2 channels = 60 values (time-major), but the rows "
                      "hold 90"),
])
def test_bad_parameters_are_one_line_errors(params, message):
    X = np.zeros((4, 90))
    step = WindowFeatures(**{"window": 30, "channels": 3, "features": "mean", **params})
    with pytest.raises(WindowError) as info:
        step.fit(X)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, TinygenError) and isinstance(info.value, ValueError)


def test_wrong_row_length_at_transform_and_not_fitted():
    X, _ = windows()
    step = WindowFeatures(32, CHANNELS, "mean")
    with pytest.raises(NotFittedError):
        step.transform(X)
    step.fit(X)
    with pytest.raises(WindowError, match="= 96 values .* but the rows hold 95"):
        step.transform(X[:, :95])
    with pytest.raises(WindowError, match="input_features has 2 names"):
        step.get_feature_names_out(["a", "b"])


def test_nan_and_inf_samples_as_documented():
    """A NaN sample: NaN features of its channel but crossings (0); a +inf sample: mean/max/rms inf, std NaN; the
    other channels are untouched."""
    X, _ = windows(rows=2)
    step = WindowFeatures(32, CHANNELS, "mean,std,max,rms,crossings").fit(X)
    clean = step.transform(X)
    bad = X.copy()
    bad[0, 3 * 5 + 0] = np.nan  # sample 5 of acc_x, window 0
    bad[1, 3 * 7 + 1] = np.inf  # sample 7 of acc_y, window 1
    with np.errstate(invalid="ignore"):
        out = step.transform(bad)
    assert np.isnan(out[0, :4]).all() and out[0, 4] == 0
    assert np.isinf(out[1, [5, 7, 8]]).all() and np.isnan(out[1, 6])
    np.testing.assert_array_equal(out[0, 5:], clean[0, 5:])
    np.testing.assert_array_equal(out[1, 10:], clean[1, 10:])


def test_skops_round_trip(tmp_path):
    X, y = windows()
    pipeline = Pipeline([("features", WindowFeatures(32, CHANNELS, "mean,std,fft4log", hop=16)),
                         ("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    path = tmp_path / "w.skops"
    modelio.save_model(pipeline, path)
    assert skops.io.get_untrusted_types(file=path) == ["tinygen.features.WindowFeatures"]
    loaded = modelio.load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    assert loaded[0].get_params() == pipeline[0].get_params()
    assert list(loaded[0].get_feature_names_out()) == list(pipeline[0].get_feature_names_out())


def test_band_edges_may_use_exponents():
    """bp:LO-HI splits at the one dash between two numbers, so exponents with their own minus sign parse."""
    from tinygen import featurespec

    specs = featurespec.parse("bp:1e-05-2e-05,bp:0.5-3", 64, 100.0)
    assert [spec.cutoffs for spec in specs] == [(1e-05, 2e-05), (0.5, 3.0)]
    with pytest.raises(TinygenError, match="give the cutoff in Hz"):
        featurespec.parse("bp:1e-05-", 64, 100.0)
