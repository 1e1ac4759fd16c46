"""CSV loading/validation, bundled datasets, CSV writing, and the atomic file helpers they use."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import files
from tinygen.data import BUNDLED, Dataset, load_bundled, load_csv, write_csv

from conftest import error_of


def write(tmp_path, text: str | bytes, name: str = "data.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ------------------------------------------------------------------------------------------------- load_csv


def test_load_basic_int_labels(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2.5,0\n-3,4e-2,1\n5,6,1\n")
    ds = load_csv(path, "y")
    assert ds.feature_names == ["a", "b"]
    assert ds.label_name == "y"
    assert ds.X.dtype == np.float64 and ds.X.shape == (3, 2)
    np.testing.assert_array_equal(ds.X, [[1, 2.5], [-3, 0.04], [5, 6]])
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.y, [0, 1, 1])
    assert ds.n_rows == 3 and ds.n_features == 2


def test_label_column_anywhere_features_keep_order(tmp_path):
    path = write(tmp_path, "y,a,b,c\n1,1,2,3\n2,4,5,6\n")
    ds = load_csv(path, "y")
    assert ds.feature_names == ["a", "b", "c"]
    np.testing.assert_array_equal(ds.X, [[1, 2, 3], [4, 5, 6]])


def test_integral_float_labels_become_int(tmp_path):
    ds = load_csv(write(tmp_path, "a,y\n1,1.0\n2,2.0\n3,-4\n"), "y")
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.y, [1, 2, -4])


def test_float_labels(tmp_path):
    ds = load_csv(write(tmp_path, "a,y\n1,1.5\n2,2\n3,-0.25\n"), "y")
    assert ds.y.dtype == np.float64
    np.testing.assert_array_equal(ds.y, [1.5, 2.0, -0.25])


def test_string_labels(tmp_path):
    ds = load_csv(write(tmp_path, "a,species\n1, setosa\n2,virginica\n3,42\n"), "species")
    assert ds.y.dtype.kind in "OU"
    assert list(ds.y) == ["setosa", "virginica", "42"]
    assert all(type(v) is str for v in ds.y)


def test_no_label_means_all_features(tmp_path):
    ds = load_csv(write(tmp_path, "a,b\n1,2\n3,4\n"))
    assert ds.y is None and ds.label_name is None
    assert ds.feature_names == ["a", "b"]
    assert ds.X.shape == (2, 2)


def test_bom_crlf_quotes_blank_lines_and_spaces(tmp_path):
    raw = "\ufeff a , b ,y\r\n\"1\",  2 ,x\r\n\r\n3,4,\"y, z\"\r\n\r\n".encode("utf-8")
    ds = load_csv(write(tmp_path, raw), "y")
    assert ds.feature_names == ["a", "b"]
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])
    assert list(ds.y) == ["x", "y, z"]


def test_missing_file(tmp_path):
    message = error_of(load_csv, tmp_path / "nope.csv", "y")
    assert "nope.csv" in message and "does not exist" in message


def test_directory_instead_of_file(tmp_path):
    message = error_of(load_csv, tmp_path, "y")
    assert "directory" in message


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path, "a,y\n1,2\n")

    def deny(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(path), "read_bytes", deny)
    message = error_of(load_csv, path, "y")
    assert "cannot read" in message and "data.csv" in message and "Permission denied" in message


def test_not_utf8(tmp_path):
    path = write(tmp_path, "a,caf\xe9\n1,2\n".encode("latin-1"))
    message = error_of(load_csv, path)
    assert "not UTF-8" in message and "UTF-8" in message.split(";")[-1]
    assert "line 1" in message


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_empty_file(tmp_path, text):
    message = error_of(load_csv, write(tmp_path, text), "y")
    assert "empty" in message and "data.csv" in message


def test_header_only(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,b,y\n"), "y")
    assert "no data rows" in message


def test_duplicate_column(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,b,a\n1,2,3\n"))
    assert "'a'" in message and "more than once" in message


def test_empty_column_name(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,,y\n1,2,3\n"), "y")
    assert "column 2" in message and "empty name" in message


def test_ragged_row(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,b,y\n1,2,3\n4,5\n"), "y")
    assert "line 3" in message and "data row 2" in message
    assert "2 fields" in message and "3 columns" in message


def test_ragged_row_too_many(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,y\n1,2,3\n"), "y")
    assert "line 2" in message and "3 fields" in message and "2 columns" in message


@pytest.mark.parametrize("text", ['a,y\n1,2\n3,"4\n5,6\n', 'a,y\n1,"2"x\n'])
def test_invalid_csv_quoting(tmp_path, text):
    message = error_of(load_csv, write(tmp_path, text), "y")
    assert "data.csv" in message and "not a valid CSV" in message and "quoting" in message


def test_label_missing_lists_columns(tmp_path):
    message = error_of(load_csv, write(tmp_path, "alpha,beta\n1,2\n"), "target")
    assert "'target'" in message and "not found" in message
    assert "'alpha'" in message and "'beta'" in message


def test_label_missing_suggests_close_name(tmp_path):
    message = error_of(load_csv, write(tmp_path, "alpha,Target\n1,2\n"), "target")
    assert "did you mean 'Target'" in message


def test_label_missing_truncates_long_column_list(tmp_path):
    header = ",".join(f"f{i}" for i in range(200))
    row = ",".join("1" for _ in range(200))
    message = error_of(load_csv, write(tmp_path, f"{header}\n{row}\n"), "zzz")
    assert "'f0'" in message and "'f199'" not in message
    assert "190 more" in message
    assert len(message) < 400


def test_label_missing_hints_at_semicolons(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a;b;y\n1;2;3\n"), "y")
    assert "semicolons" in message


def test_require_label(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,b\n1,2\n"), None, require_label=True)
    assert "label" in message and "'a'" in message


def test_no_feature_columns(tmp_path):
    message = error_of(load_csv, write(tmp_path, "y\n1\n2\n"), "y")
    assert "no feature columns" in message and "'y'" in message


def test_non_numeric_feature(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,color,y\n1,2,0\n3,red,1\n"), "y")
    assert "'color'" in message and "'red'" in message
    assert "line 3" in message and "data row 2" in message


def test_long_bad_value_is_shortened(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,y\n" + "x" * 500 + ",1\n"), "y")
    assert len(message) < 300 and "..." in message


@pytest.mark.parametrize("cell,what", [("", "missing"), ("nan", "non-finite"), ("inf", "non-finite"),
                                       ("-Infinity", "non-finite"), ("NaN", "non-finite")])
def test_nan_rejected_by_default(tmp_path, cell, what):
    path = write(tmp_path, f"a,b,y\n1,2,0\n3,{cell},1\n4,{cell},1\n")
    message = error_of(load_csv, path, "y")
    assert "'b'" in message and what in message and "line 3" in message
    assert "remove or impute those rows" in message
    assert "1 more" in message


def test_allow_nan(tmp_path):
    path = write(tmp_path, "a,b,y\n1,,0\nnan,inf,1\n-inf,NaN,1\n")
    ds = load_csv(path, "y", allow_nan=True)
    assert np.isnan(ds.X[0, 1]) and np.isnan(ds.X[1, 0]) and np.isnan(ds.X[2, 1])
    assert ds.X[1, 1] == np.inf and ds.X[2, 0] == -np.inf
    assert ds.X[0, 0] == 1


def test_allow_nan_still_rejects_text(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,y\nNA,0\n"), "y", allow_nan=True)
    assert "'NA'" in message and "non-numeric" in message


def test_empty_label_cell(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,y\n1,0\n2,\n"), "y")
    assert "'y'" in message and "empty" in message and "line 3" in message


def test_empty_label_cell_even_with_allow_nan(tmp_path):
    error_of(load_csv, write(tmp_path, "a,y\n1,0\n2,\n"), "y", allow_nan=True)


def test_non_finite_numeric_label(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a,y\n1,0.5\n2,nan\n"), "y")
    assert "'y'" in message and "'nan'" in message and "line 3" in message


# ------------------------------------------------------------------------------------------------- round trip


def test_round_trip_exact(tmp_path):
    rng = np.random.default_rng(1)
    specials = [0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, 0.1, 1 / 3,
                -123456789.123456789, 1e22, 2.0**-1074 * 3]
    X = np.concatenate([rng.normal(size=(20, 3)) * 10.0 ** rng.integers(-30, 30, size=(20, 3)),
                        np.array(specials[:9]).reshape(3, 3)])
    y = rng.integers(0, 3, size=len(X)).astype(np.int64)
    ds = Dataset(X=X, y=y, feature_names=["a", "b c", "d,e"], label_name="label")
    path = tmp_path / "out.csv"
    write_csv(ds, path)
    back = load_csv(path, "label")
    assert back.feature_names == ds.feature_names
    assert back.X.tobytes() == X.tobytes()  # bit for bit, including -0.0
    np.testing.assert_array_equal(back.y, y)
    assert back.y.dtype == np.int64


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=12))
def test_round_trip_exact_property(tmp_path_factory, values):
    directory = tmp_path_factory.mktemp("rt")
    X = np.array(values, dtype=np.float64).reshape(-1, 1)
    ds = Dataset(X=X, y=None, feature_names=["v"], label_name=None)
    write_csv(ds, directory / "v.csv")
    back = load_csv(directory / "v.csv")
    assert back.y is None
    assert back.X.tobytes() == X.tobytes()


def test_round_trip_string_and_float_labels(tmp_path):
    X = np.arange(8, dtype=np.float64).reshape(4, 2)
    for y, kind in [(np.array(["cat", "dog, big", "say \"hi\"", "émile"], dtype=object), "O"),
                    (np.array([0.1, 2.5, -1e-9, 1 / 3]), "f")]:
        write_csv(Dataset(X=X, y=y, feature_names=["a", "b"], label_name="t"), tmp_path / "o.csv")
        back = load_csv(tmp_path / "o.csv", "t")
        assert back.y.dtype.kind == kind
        assert list(back.y) == list(y)


def test_round_trip_nan_features(tmp_path):
    X = np.array([[np.nan, 1.0], [np.inf, -np.inf]])
    write_csv(Dataset(X=X, y=None, feature_names=["a", "b"], label_name=None), tmp_path / "n.csv")
    back = load_csv(tmp_path / "n.csv", allow_nan=True)
    np.testing.assert_array_equal(back.X, X)
    error_of(load_csv, tmp_path / "n.csv")


def test_write_csv_shape_mismatch(tmp_path):
    ds = Dataset(X=np.zeros((2, 3)), y=None, feature_names=["a", "b"], label_name=None)
    message = error_of(write_csv, ds, tmp_path / "x.csv")
    assert "x.csv" in message
    assert leftovers(tmp_path) == []


def test_write_csv_missing_directory_leaves_nothing(tmp_path):
    ds = load_bundled("iris")
    message = error_of(write_csv, ds, tmp_path / "missing" / "iris.csv")
    assert "cannot write" in message and "does not exist" in message
    assert leftovers(tmp_path) == []


def test_write_csv_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    ds = load_bundled("iris")
    target = tmp_path / "iris.csv"

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", boom)
    message = error_of(write_csv, ds, target)
    assert "No space left on device" in message and "iris.csv" in message
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------------- bundled


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled(name):
    ds = load_bundled(name)
    assert ds.X.dtype == np.float64 and ds.X.ndim == 2
    assert ds.X.shape == (len(ds.y), len(ds.feature_names))
    assert all(type(n) is str and n for n in ds.feature_names)
    assert len(set(ds.feature_names)) == len(ds.feature_names)
    assert ds.label_name == "target"
    assert np.all(np.isfinite(ds.X))
    if name == "diabetes":
        assert ds.y.dtype == np.float64
    else:
        assert ds.y.dtype == np.int64


def test_bundled_round_trip_through_csv(tmp_path):
    ds = load_bundled("wine")
    write_csv(ds, tmp_path / "wine.csv")
    back = load_csv(tmp_path / "wine.csv", "target")
    assert back.X.tobytes() == ds.X.tobytes()
    np.testing.assert_array_equal(back.y, ds.y)
    assert back.feature_names == ds.feature_names


def test_unknown_bundled():
    message = error_of(load_bundled, "titanic")
    assert "'titanic'" in message
    for name in BUNDLED:
        assert name in message


# ------------------------------------------------------------------------------------------------- files


def test_atomic_write_text_and_bytes(tmp_path):
    files.atomic_write_text(tmp_path / "a.txt", "héllo\n")
    assert (tmp_path / "a.txt").read_bytes() == "héllo\n".encode("utf-8")
    files.atomic_write_bytes(tmp_path / "a.txt", b"\x00\x01")  # overwrite
    assert (tmp_path / "a.txt").read_bytes() == b"\x00\x01"
    assert leftovers(tmp_path) == ["a.txt"]


def test_atomic_write_gives_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        files.atomic_write_text(tmp_path / "p.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.txt").stat().st_mode) == 0o644


def test_atomic_write_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files.atomic_write_text("rel.txt", "ok")
    assert (tmp_path / "rel.txt").read_text() == "ok"


def test_atomic_write_missing_directory(tmp_path):
    message = error_of(files.atomic_write_bytes, tmp_path / "no" / "f.bin", b"x")
    assert "cannot write" in message and "f.bin" in message


def test_atomic_write_parent_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    message = error_of(files.atomic_write_text, tmp_path / "file" / "f.txt", "x")
    assert "not a directory" in message
    assert leftovers(tmp_path) == ["file"]


def test_atomic_write_onto_directory(tmp_path):
    (tmp_path / "d").mkdir()
    message = error_of(files.atomic_write_text, tmp_path / "d", "x")
    assert "directory" in message


def test_atomic_write_unwritable_directory(tmp_path, monkeypatch):
    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", deny)
    message = error_of(files.atomic_write_text, tmp_path / "f.txt", "x")
    assert message.startswith("cannot write") and "Permission denied" in message
    assert leftovers(tmp_path) == []


def test_atomic_path_success_and_failure(tmp_path):
    target = tmp_path / "m.bin"
    with files.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"

    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"data"  # the old file is untouched
    assert leftovers(tmp_path) == ["m.bin"]


def test_atomic_path_oserror_becomes_tinygen_error(tmp_path):
    def run():
        with files.atomic_path(tmp_path / "o.bin"):
            raise OSError(5, "Input/output error")

    message = error_of(run)
    assert "o.bin" in message and "Input/output error" in message
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------------- delimiter / decimal


def test_delimiter_and_decimal_comma(tmp_path):
    """A tab-separated file with decimal commas in features and (regression) labels; quoted cells keep commas."""
    from tinygen.data import CsvFormat

    ds = load_csv(write(tmp_path, 'a\tb\ty\n1,5\t"2,25"\t0,5\n-3\t4e-2\t1,25\n'), "y", fmt=CsvFormat("\t", ","))
    np.testing.assert_array_equal(ds.X, [[1.5, 2.25], [-3, 0.04]])
    assert ds.y.dtype == np.float64 and ds.y.tolist() == [0.5, 1.25]
    message = error_of(load_csv, write(tmp_path, "a;y\n1,5;0\n"), "y", fmt=CsvFormat(";"))
    assert "'1,5'" in message and "--decimal ','" in message


def test_semicolons_read_as_commas_name_the_option(tmp_path):
    message = error_of(load_csv, write(tmp_path, "a;b;y\n1;2;0\n"), "y")
    assert "--delimiter ';'" in message
