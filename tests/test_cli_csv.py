"""The command line reads CSV files the way pandas users expect: byte-order marks,
separators, missing cells, dropped and text columns, labels kept as written; and refuses
the files it cannot read with one line naming the place."""
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

import cnet
from _cli_runs import column, one_line_error, read_rows, run, write_csv
from cnet.cli import main


def _iris_rows():
    X, y = load_iris(return_X_y=True)
    return X, y, np.array(["setosa", "versicolor", "virginica"])[y]


HEADER = ["sl", "sw", "pl", "pw", "species"]


def _train(capsys, path, *args, out):
    status = main(["train", str(path), "--target", "species", *args, "--out", str(out)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("sep,given", [(",", False), (";", False), ("\t", False), ("|", False),
                                       (";", True), ("\t", "\\t")])
def test_separators_and_byte_order_mark(tmp_path, capsys, sep, given):
    X, _, names = _iris_rows()
    path = tmp_path / "iris.csv"
    # utf-8-sig: the byte-order mark Excel writes; the first column keeps its plain name.
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        f.write(sep.join(HEADER) + "\n")
        for x, name in zip(X, names):
            f.write(sep.join([*(repr(float(v)) for v in x), name]) + "\n")
    out = tmp_path / "m.npz"
    # given "\\t": what a shell passes for --sep '\t'.
    option = ["--sep", given if isinstance(given, str) else sep] if given else []
    status, text, err = _train(capsys, path, *option, out=out)
    assert status == 0, err
    assert list(cnet.load(out).feature_names_in_) == HEADER[:4]
    assert main(["predict", str(out), str(path)]) == 0
    predicted = column(read_rows(capsys.readouterr().out))
    assert (predicted == names).mean() > 0.95


def test_missing_cells_error_drop_or_mean(tmp_path, capsys):
    X, _, names = _iris_rows()
    rows = [[*(repr(float(v)) for v in x), name] for x, name in zip(X, names)]
    rows[4][2] = ""          # line 6 (header, then rows from line 2)
    rows[9][0] = "NA"        # line 11
    path = write_csv(tmp_path / "na.csv", HEADER, rows)
    out = tmp_path / "m.npz"
    status, _, err = _train(capsys, path, out=out)
    assert status == 2 and "line 6, column 'pl': missing value" in err and "--na" in err
    status, text, err = _train(capsys, path, "--na", "drop", out=out)
    assert status == 0 and "150 rows (2 with missing cells dropped)" in text
    assert cnet.load(out).cnet_metadata_["training_rows"] == 118     # 148 rows, 20% held out
    status, text, err = _train(capsys, path, "--na", "mean", out=out)
    assert status == 0, err
    model = cnet.load(out)
    assert [name for name, _ in model.steps] == ["impute", "scale", "mlp"]
    # The imputer fills with the training split's column means: predicting the rows with
    # the holes gives what the model gives for those means put in by hand.
    assert main(["predict", str(out), str(path)]) == 0
    predicted = column(read_rows(capsys.readouterr().out))
    frame = pd.read_csv(path)[HEADER[:4]]
    filled = frame.fillna(pd.Series(model.named_steps["impute"].statistics_, HEADER[:4]))
    np.testing.assert_array_equal(predicted, model[1:].predict(filled.to_numpy()))


def test_a_missing_label_is_an_error_or_dropped_never_imputed(tmp_path, capsys):
    X, _, names = _iris_rows()
    rows = [[*(repr(float(v)) for v in x), name] for x, name in zip(X, names)]
    rows[6][4] = ""
    path = write_csv(tmp_path / "y.csv", HEADER, rows)
    for na in ("error", "mean"):
        status, _, err = _train(capsys, path, "--na", na, out=tmp_path / "m.npz")
        assert status == 2 and "line 8, column 'species': missing label" in err
    status, text, _ = _train(capsys, path, "--na", "drop", out=tmp_path / "m.npz")
    assert status == 0 and "1 with missing cells dropped" in text


def test_infinite_target_or_feature_is_an_error(tmp_path, capsys):
    rows = [[i, i % 2] for i in range(20)]
    rows[3][1] = "inf"
    path = write_csv(tmp_path / "inf.csv", ["x", "y"], rows)
    err = _error(capsys, ["train", str(path), "--target", "y"])
    assert "line 5, column 'y': the label 'inf' is not a finite number" in err
    rows[3] = [1e400, 1]
    write_csv(path, ["x", "y"], rows)
    err = _error(capsys, ["train", str(path), "--target", "y"])
    assert "line 5, column 'x': inf is not a finite number" in err


def test_integer_labels_stay_integers(tmp_path, capsys):
    # 0/1 labels must come back as 0 and 1, not 0.0 and 1.0 (nor "0" as a float class).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    path = write_csv(tmp_path / "b.csv", ["a", "b", "y"], [[*x, v] for x, v in zip(X, y)])
    out = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--out", str(out)]) == 0
    assert "2 classes (0, 1)" in capsys.readouterr().out
    assert cnet.load(out)[-1].classes_.dtype.kind == "i"
    assert main(["predict", str(out), str(path)]) == 0
    predicted = column(read_rows(capsys.readouterr().out))
    assert set(predicted) == {"0", "1"} and (predicted.astype(int) == y).mean() > 0.95
    assert main(["predict", str(out), str(path), "--proba"]) == 0
    rows = read_rows(capsys.readouterr().out)
    assert rows[0] == ["0", "1"]
    np.testing.assert_allclose(np.array(rows[1:], dtype=float).sum(axis=1), 1, rtol=1e-12)


def test_drop_columns(tmp_path, capsys):
    X, _, names = _iris_rows()
    path = write_csv(tmp_path / "d.csv", ["id", *HEADER, "note"],
                     [[f"row{i}", *x, name, "free text"] for i, (x, name)
                      in enumerate(zip(X, names))])
    out = tmp_path / "m.npz"
    status, _, err = _train(capsys, path, out=out)
    assert status == 2 and "column 'id': 'row0' is not a number" in err
    assert "--drop id" in err and "--encode" in err
    status, _, err = _train(capsys, path, "--drop", "id,note", out=out)
    assert status == 0, err
    assert list(cnet.load(out).feature_names_in_) == HEADER[:4]
    status, _, err = _train(capsys, path, "--drop", "id", "--drop", "note", out=out)
    assert status == 0, err
    # Predicting ignores the dropped columns.
    assert main(["predict", str(out), str(path)]) == 0


def test_encode_one_hot_encodes_text_columns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], 300)
    x = rng.standard_normal(300)
    y = np.where(colour == "red", x > 0, x < 0).astype(int)
    path = write_csv(tmp_path / "e.csv", ["colour", "x", "y"], zip(colour, x, y))
    out = tmp_path / "m.npz"
    err = _error(capsys, ["train", str(path), "--target", "y", "--out", str(out)])
    assert f"line 2, column 'colour': {str(colour[0])!r} is not a number" in err
    assert "--encode" in err
    assert main(["train", str(path), "--target", "y", "--encode", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(1 one-hot encoded)" in text and float(text.split("accuracy: ")[1][:6]) > 0.9
    model = cnet.load(out)
    assert [name for name, _ in model.steps] == ["encode", "scale", "mlp"]
    # A colour unseen in training is all zeros in the encoding, not an error.
    new = write_csv(tmp_path / "new.csv", ["colour", "x"], [["purple", 0.5], ["red", 1.0]])
    assert main(["predict", str(out), str(new)]) == 0
    assert len(read_rows(capsys.readouterr().out)) == 3


def test_duplicated_column_names_are_refused(tmp_path, capsys):
    path = write_csv(tmp_path / "dup.csv", ["a", "b", "a", "y"], [[1, 2, 3, 0], [4, 5, 6, 1]])
    err = _error(capsys, ["train", str(path), "--target", "y"])
    assert "the column name 'a' appears twice" in err


def test_blank_lines_are_skipped_and_lines_counted(tmp_path, capsys):
    path = tmp_path / "blank.csv"
    path.write_text("a,y\n1,0\n\n2,1\nx,0\n")
    err = _error(capsys, ["train", str(path), "--target", "y"])
    assert "line 5, column 'a': 'x' is not a number" in err


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"a,b,y\n", "has a header but no rows of data"),
    (b"a,y\n1,0\n1,2,3\n", "Expected 2 fields in line 3, saw 3"),
    (b"a,y\n1,0\n2,\xff\xfe1\n", "line 3: not UTF-8 text (byte 0xff)"),
])
def test_unreadable_tables(tmp_path, capsys, content, message):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    err = _error(capsys, ["train", str(path), "--target", "y"])
    assert message in err


def test_a_huge_cell_is_refused(tmp_path, capsys):
    path = tmp_path / "huge.csv"
    path.write_text("a,b,y\n1,2,0\n3," + "x" * 200_000 + ",1\n")
    err = _error(capsys, ["train", str(path), "--target", "y"])
    assert "line 3, column 'b': a cell of 200000 characters (the limit is 131072)" in err
    path.write_text("a" * 200_000 + ",y\n1,0\n")
    err = _error(capsys, ["train", str(path), "--target", "y"])
    assert "line 1: a column name longer than 131072 characters" in err


def test_a_file_that_is_not_utf8_through_the_command(tmp_path):
    (tmp_path / "latin1.csv").write_bytes("größe,y\n1,0\n2,1\n".encode("latin-1"))
    result = run("train", "latin1.csv", "--target", "y", cwd=tmp_path)
    assert result.returncode == 2 and one_line_error(result), result.stderr
    assert "line 1: not UTF-8 text (byte 0xf6)" in result.stderr


def test_integer_codes_written_differently_stay_the_strings_they_were(tmp_path, capsys):
    # "01" and "1" are two labels as written; read as integers they would merge into one
    # class and print back as neither.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 2))
    y = np.array(["01", "1", "02"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1)]
    path = write_csv(tmp_path / "c.csv", ["a", "b", "y"], [[*x, v] for x, v in zip(X, y)])
    out = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--out", str(out)]) == 0
    capsys.readouterr()
    assert sorted(cnet.load(out)[-1].classes_.tolist()) == sorted(set(y.tolist()))
    assert main(["predict", str(out), str(path)]) == 0
    assert set(column(read_rows(capsys.readouterr().out))) <= {"01", "1", "02"}


def test_encoded_columns_are_read_as_written_when_predicting(tmp_path, capsys):
    # A one-hot column whose categories look like numbers ("3", "007") in a prediction file
    # holding only those: read as numbers they would become "3.0" and "7", categories the
    # encoder never saw (all zeros, a silently different prediction).
    rng = np.random.default_rng(1)
    code = rng.choice(["3", "007", "x"], 300)
    x = rng.standard_normal(300)
    y = np.where(code == "3", x > 0, x < 0).astype(int)
    path = write_csv(tmp_path / "e.csv", ["code", "x", "y"], zip(code, x, y))
    out = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--encode", "--out", str(out)]) == 0
    capsys.readouterr()
    rows = [["3", 1.0], ["007", 1.0], ["3", -1.0], ["007", -1.0]]
    new = write_csv(tmp_path / "new.csv", ["code", "x"], rows)
    assert main(["predict", str(out), str(new), "--proba"]) == 0
    got = np.array(read_rows(capsys.readouterr().out)[1:], dtype=float)
    # Independent: the loaded pipeline on the same cells as strings.
    expected = cnet.load(out).predict_proba(pd.DataFrame({"code": [r[0] for r in rows],
                                                          "x": [r[1] for r in rows]}))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
