"""Load fuzzer: real model files, damaged at random, must load identically or raise ValueError.

Every kind of model cnet saves (MLPClassifier binary, multi-class and multi-label,
MLPRegressor with the squared error and the Poisson loss, NeuralNet; sgd, adam and lbfgs;
float32 and float64; integer and string classes; DataFrame column names) is saved, then
damaged: random byte flips, truncations, members added (junk, duplicates, deflate bombs) or
removed, the JSON header mutated field by field or byte by byte, arrays swapped to big-endian
or Fortran order, the archive re-packed deflated. Every outcome must be

- a ``ValueError``, or
- a model whose arrays are bitwise those saved and whose predictions are bitwise those of
  the saved model given the loaded constructor parameters (a header mutation may turn a
  valid ``relu`` into a valid ``tanh``: the file is then a different, consistent model).

The cases run in a child process, so that a crash of compiled code fails the test instead of
the run, and the child reports how far its peak RSS grew over the cases: the bound is the
100 MB of the README. ``CNET_LOAD_FUZZ_CASES`` sets the number of cases (CI runs a few
hundred; ``scripts/load_fuzz.sh`` 20,000) and ``CNET_LOAD_FUZZ_SEED`` the seed.
"""
import copy
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
import warnings
import zipfile

import numpy as np

CASES = int(os.environ.get("CNET_LOAD_FUZZ_CASES", "300"))
SEED = int(os.environ.get("CNET_LOAD_FUZZ_SEED", "0"))
RSS_BOUND = 100 * 2**20


def test_damaged_model_files_load_identically_or_raise_value_error():
    import cnet
    root = os.path.dirname(os.path.dirname(os.path.abspath(cnet.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root, os.path.dirname(os.path.abspath(__file__))]))
    child = subprocess.run([sys.executable, os.path.abspath(__file__), str(CASES), str(SEED)],
                           capture_output=True, text=True, env=env, timeout=120 + CASES)
    assert child.returncode == 0, (f"the fuzzing process ended with {child.returncode} (a "
                                   f"negative number is the signal that killed it):\n"
                                   f"{child.stderr[-3000:]}")
    report = json.loads(child.stdout.strip().splitlines()[-1])
    print({key: value for key, value in report.items() if key != "failures"})   # pytest -s
    assert report["cases"] == CASES
    assert report["failures"] == [], json.dumps(report["failures"][:5], indent=1)
    assert report["rss_growth"] < RSS_BOUND, report
    assert report["outcomes"]["loaded"] > 0 and report["outcomes"]["refused"] > 0, report


# --- the child ---------------------------------------------------------------------------------

def _models():
    """``[(name, model, X), ...]``: one of each kind of model file."""
    import pandas as pd
    from sklearn.datasets import load_digits, make_moons, make_regression
    from sklearn.exceptions import ConvergenceWarning

    import cnet
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = make_moons(60, noise=0.2, random_state=0)
    digits = load_digits()
    Xd, yd = digits.data[:120] / 16, digits.target[:120]
    Xr, yr = make_regression(60, 4, n_targets=2, random_state=0)
    frame = pd.DataFrame(X, columns=["width", "height"])
    frame_d = pd.DataFrame(Xd.astype(np.float32), columns=[f"px{i}" for i in range(64)])
    words = np.array(["cat", "dog", "eel"], dtype=object)[yd % 3]
    multilabel = np.stack([yd > 4, yd % 2 == 0], axis=1).astype(int)
    return [
        ("binary adam", cnet.MLPClassifier((6,), max_iter=4, random_state=0).fit(X, y), X),
        ("multiclass sgd float32 strings names",
         cnet.MLPClassifier((8,), solver="sgd", max_iter=3, random_state=0).fit(frame_d, words),
         frame_d),
        ("multilabel lbfgs", cnet.MLPClassifier((5,), solver="lbfgs", max_iter=5,
                                                random_state=0).fit(Xd, multilabel), Xd),
        ("binary class_weight dropout strings",
         cnet.MLPClassifier((6,), max_iter=3, dropout=0.2, random_state=0,
                            class_weight={"no": 1, "yes": 2.5}).fit(
             X, np.array(["no", "yes"])[y]), X),
        ("binary early stopping", cnet.MLPClassifier((4,), max_iter=4, early_stopping=True,
                                                     random_state=0).fit(X, y), X),
        ("regressor adam 2 outputs", cnet.MLPRegressor(hidden_layer_sizes=(6,), max_iter=3,
                                                       random_state=0).fit(Xr, yr / 100), Xr),
        ("poisson sgd float32",
         cnet.MLPRegressor(loss="poisson", solver="sgd", hidden_layer_sizes=(5,), max_iter=3,
                           random_state=0).fit(Xr.astype(np.float32),
                                               np.abs(yr[:, 0]) / 100), Xr.astype(np.float32)),
        ("regressor lbfgs names", cnet.MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs",
                                                    max_iter=5, random_state=0).fit(
             frame, X[:, 0] * 2), frame),
        ("neuralnet object strings", cnet.NeuralNet(layers=[2, 5, 1], iterations=5,
                                                    random_state=0).fit(
             X, pd.Series(np.array(["blue", "red"])[y], dtype=object)), X),
        ("neuralnet float32 names", cnet.NeuralNet(layers=[2, 3, 1], iterations=5, batch_size=16,
                                                   random_state=0).fit(
             frame.astype(np.float32), y), frame.astype(np.float32)),
        *_pipelines(X, y, Xr, yr),
    ]


def _pipelines(X, y, Xr, yr):
    """Pipelines of every step a file holds: imputer, scalers, one-hot columns."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    import cnet
    gaps = Xr.copy()
    gaps[::4, 1] = np.nan
    table = pd.DataFrame({"colour": np.array(["red", "green", "blue"])[np.arange(60) % 3],
                          "grade": (np.arange(60) % 4) * 10, "x": X[:, 0], "y": X[:, 1]})
    table.loc[::7, "y"] = np.nan
    return [
        ("pipeline imputer scalers regressor float32", Pipeline([
            ("impute", SimpleImputer(strategy="median")), ("minmax", MinMaxScaler()),
            ("scale", StandardScaler()),
            ("mlp", cnet.MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                                      dtype=np.float32))]).fit(
            gaps.astype(np.float32), yr[:, 0] / 100), gaps.astype(np.float32)),
        ("pipeline one-hot strings", Pipeline([
            ("encode", ColumnTransformer(
                [("onehot", OneHotEncoder(handle_unknown="ignore", drop="if_binary"),
                  ["colour", "grade"]), ("num", StandardScaler(), ["x"])],
                remainder="passthrough", sparse_threshold=0.9)),
            ("impute", SimpleImputer()), ("scale", StandardScaler(with_mean=False)),
            ("mlp", cnet.MLPClassifier((5,), max_iter=3, random_state=0))]).fit(
            table, np.array(["no", "yes"])[y]), table),
    ]


def _saved_bytes(model, directory):
    import cnet
    path = os.path.join(directory, "model.npz")
    cnet.save(model, path)
    with open(path, "rb") as file:
        return file.read()


# Values a header field may be set to: wrong types, out of range, huge, other fields' kinds.
HOSTILE_VALUES = [None, True, False, 0, -1, 1, 2, 3, 7, 2**31, 2**63, -2**63, 10**30, 10**400,
                  -10**400, 0.5, -0.0,
                  1e-300, 1e308, float("inf"), float("-inf"), "", "x", "relu", "tanh", "identity",
                  "softmax", "logistic", "exp", "sgd", "lbfgs", "float32", "float64", "numpy",
                  "binary", "multiclass", "multilabel-indicator", "<f8", ">f4", "|O", [], [0],
                  [1, 1], [2, 6, 1], [[3], "<f8"], [[10**9], "<f8"], {}, {"tuple": [6]},
                  {"tuple": []}, {"dict": [[0, 1]]}, {"dict": [["no", -1]]}, {"a": 1},
                  [[[[[[[]]]]]]]]


def _paths(value, prefix=()):
    """Every key path in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:8]):
            yield prefix + (index,)
            yield from _paths(item, prefix + (index,))


def _mutate_header(header, rng):
    header = copy.deepcopy(header)
    paths = list(_paths(header))
    path = rng.choice(paths)
    parent = header
    for key in path[:-1]:
        parent = parent[key]
    action = rng.random()
    if action < 0.15 and isinstance(parent, dict):
        del parent[path[-1]]
    elif action < 0.25 and isinstance(parent, dict):
        parent[rng.choice(["extra", "layers", "params", "x" * 50])] = rng.choice(HOSTILE_VALUES)
    elif action < 0.4:
        other = rng.choice(paths)
        value = header
        for key in other:
            value = value[key]
        parent[path[-1]] = copy.deepcopy(value)
    elif action < 0.55 and isinstance(parent[path[-1]], (int, float)) and not isinstance(
            parent[path[-1]], bool):
        parent[path[-1]] = parent[path[-1]] + rng.choice([-1, 1, 0.5, 2**40])
    else:
        parent[path[-1]] = rng.choice(HOSTILE_VALUES)
    return json.dumps(header).encode()


def _mutate_text(raw, rng):
    raw = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(raw))
        raw[at] = rng.choice([rng.randrange(256), *b"0123456789[]{}\",:-.eE"])
    return bytes(raw)


def _case(data, members, rng, bombs):
    """A damaged copy of a file: (description, bytes, exact), where ``exact`` says the file
    still holds exactly the saved model (or nothing loadable)."""
    import hostile_files as hf
    kind = rng.choices(["flip", "truncate", "add", "remove", "header", "header text",
                        "big-endian", "fortran", "deflated", "junk member"],
                       weights=[20, 8, 10, 6, 30, 12, 4, 3, 3, 4])[0]
    if kind == "flip":
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] ^= rng.randrange(1, 256)
        return kind, bytes(damaged), True
    if kind == "truncate":
        return kind, data[:rng.randrange(len(data))], True
    if kind == "add":
        name = rng.choice(["extra.npy", "params.npy", "classes.npy", "header.npy",
                           "feature_names_in.npy", "optimizer_state.npy", "x" * 200 + ".npy",
                           "a/b.npy", "readme.txt", "step0.statistics_.npy", "step2.mean_.npy",
                           "step0.t0.categories0.npy", "step9.x.npy"])
        if rng.random() < 0.15:
            return "add bomb", bombs(name), True
        content = rng.choice([b"", os.urandom(rng.randrange(1, 300)),
                              hf.npy_bytes(np.zeros(rng.randrange(0, 50))),
                              dict(members)[rng.choice([n for n, _ in members])]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # zipfile: "Duplicate name"
            return f"add {name[:20]}", hf.archive(members + [(name, content)]), True
    if kind == "remove":
        gone = rng.randrange(len(members))
        return f"remove {members[gone][0]}", hf.archive(members[:gone] + members[gone + 1:]), True
    if kind == "header":
        return kind, hf.archive(hf.with_header(members, _mutate_header(hf.header_of(members),
                                                                        rng))), False
    if kind == "header text":
        raw = json.dumps(hf.header_of(members)).encode()
        return kind, hf.archive(hf.with_header(members, _mutate_text(raw, rng))), False
    if kind == "big-endian":
        return kind, hf.archive(hf.big_endian(members)), True
    if kind == "fortran":
        out = []
        for name, content in members:
            array = np.load(io.BytesIO(content))
            out.append((name, hf.npy_bytes(np.asfortranarray(array)) if array.ndim == 2
                        else content))
        return kind, hf.archive(out), True
    if kind == "deflated":
        return kind, hf.archive(members, zipfile.ZIP_DEFLATED), True
    name = rng.choice([n for n, _ in members])
    junk = [(n, os.urandom(len(c)) if n == name else c) for n, c in members]
    return f"junk {name}", hf.archive(junk), True


def _arrays(model):
    """The fitted arrays that decide predictions, as plain arrays; of a pipeline, its
    steps' fitted numbers too."""
    if _is_pipeline(model):
        arrays = []
        for _, step in model.steps[:-1]:
            arrays.extend(_step_arrays(step))
        return arrays + _arrays(model.steps[-1][1])
    if hasattr(model, "coefs_"):
        arrays = list(model.coefs_) + list(model.intercepts_)
    else:
        arrays = [model._packed_params()]
    for name in ("classes_", "feature_names_in_"):
        if hasattr(model, name):
            arrays.append(np.asarray(getattr(model, name)))
    return arrays


def _is_pipeline(model):
    return type(model).__name__ == "Pipeline"


# The fitted arrays a file holds of a step; those scikit-learn derives from them and the
# parameters in fit (an encoder's drop_idx_) are the parameters' to decide.
STORED = ("mean_", "var_", "scale_", "min_", "data_min_", "data_max_", "data_range_",
          "statistics_", "n_samples_seen_", "feature_names_in_")


def _step_arrays(step):
    """A scikit-learn step's fitted arrays (and its encoders' categories), by name."""
    if isinstance(step, str):
        return []
    arrays = [getattr(step, key) for key in STORED if isinstance(getattr(step, key, None),
                                                                 np.ndarray)]
    for categories in getattr(step, "categories_", []):
        arrays.append(categories)
    for _, inner, _ in getattr(step, "transformers_", []):
        arrays.extend(_step_arrays(inner))
    return arrays


def _step_params(model):
    """Every step's own parameters (and those of a ColumnTransformer's steps), in order."""
    out = []
    for _, step in model.steps[:-1]:
        if isinstance(step, str):
            out.append(step)
            continue
        out.append({k: v for k, v in step.get_params(deep=False).items()
                    if k != "transformers"})
        for _, inner, _ in getattr(step, "transformers_", []):
            if not isinstance(inner, str):
                out.append(inner.get_params(deep=False))
    return out


def _with_params_of(model, loaded):
    """A copy of the saved ``model`` given the parameters ``loaded`` has: of the model, and
    of a pipeline's every step (the fitted numbers stay the saved ones)."""
    reference = copy.deepcopy(model)
    if not _is_pipeline(model):
        return reference.set_params(**loaded.get_params())
    for (_, ours), (_, theirs) in zip(reference.steps, loaded.steps):
        if isinstance(ours, str):
            continue
        ours.set_params(**{k: v for k, v in theirs.get_params(deep=False).items()
                           if k != "transformers"})
        for (_, inner, _), (_, other, _) in zip(getattr(ours, "transformers_", []),
                                                getattr(theirs, "transformers_", [])):
            if not isinstance(inner, str):
                inner.set_params(**other.get_params(deep=False))
    return reference


def _changed_params(model, loaded):
    """The names of the parameters that differ between the saved and the loaded model."""
    if not _is_pipeline(model):
        ours, theirs = [model.get_params()], [loaded.get_params()]
    else:
        ours, theirs = _step_params(model), _step_params(loaded)
        ours.append(model.steps[-1][1].get_params())
        theirs.append(loaded.steps[-1][1].get_params())
    if len(ours) != len(theirs):
        return {"steps"}
    changed = set()
    for a, b in zip(ours, theirs):
        if isinstance(a, str) or isinstance(b, str):
            changed |= set() if a == b else {"steps"}
            continue
        changed |= {k for k in set(a) | set(b) if _shown(a.get(k)) != _shown(b.get(k))}
    return changed


def _shown(value):
    """A parameter as compared: a dtype by name (a file stores np.float32 as "float32")."""
    if isinstance(value, (type, np.dtype)) or isinstance(value, str) and value in (
            "float32", "float64"):
        return np.dtype(value).name
    return repr(value)


# An encoder's drop and a ColumnTransformer's sparse_threshold act in fit: the loaded encoder
# is rebuilt with the file's value, a copy of the saved one given it after fitting is not.
REFIT_PARAMS = {"drop", "sparse_threshold"}


def _outputs(model, X):
    outputs = [model.predict(X)]
    if hasattr(model, "predict_proba"):
        outputs.append(model.predict_proba(X))
    return outputs


def _same(a, b):
    """Bitwise equal arrays; strings may come back fixed-width where they were objects."""
    def kind(x):
        return {"O": "U"}.get(np.asarray(x).dtype.kind, np.asarray(x).dtype.kind)
    return len(a) == len(b) and all(np.shape(x) == np.shape(y) and kind(x) == kind(y)
                                    and np.array_equal(x, y) for x, y in zip(a, b))


def _check(model, X, damaged, exact):
    """None if the outcome is allowed, else what went wrong."""
    import cnet
    started = time.perf_counter()
    try:
        loaded = cnet.load(io.BytesIO(damaged))
    except ValueError:
        return "refused", None, time.perf_counter() - started
    except BaseException as exc:   # noqa: BLE001 - anything else is the finding
        return "failed", f"{type(exc).__name__}: {str(exc)[:300]}", time.perf_counter() - started
    seconds = time.perf_counter() - started
    try:
        if type(loaded) is not type(model) or not _same(_arrays(loaded), _arrays(model)):
            return "failed", "loaded arrays differ from the saved ones", seconds
        changed = _changed_params(model, loaded)
        if exact and changed:
            return "failed", f"loaded parameters {sorted(changed)} differ from the saved", seconds
        final = (lambda m: m.steps[-1][1]) if _is_pipeline(model) else (lambda m: m)
        if (getattr(final(loaded), "out_activation_", None)
                != getattr(final(model), "out_activation_", None)):
            return "failed", "out_activation_ differs", seconds
        reference = _with_params_of(model, loaded)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # unknown categories, columns without values
            same = _same(_outputs(loaded, X), _outputs(reference, X))
        if not same and not changed & REFIT_PARAMS:
            return "failed", "predictions differ from the saved model's", seconds
    except BaseException as exc:   # noqa: BLE001
        return "failed", f"after loading: {type(exc).__name__}: {str(exc)[:300]}", seconds
    return "loaded", None, seconds


def main(cases, seed):
    import tempfile

    import hostile_files as hf
    rng = random.Random(seed)
    models = _models()
    with tempfile.TemporaryDirectory() as directory:
        files = [(name, model, X, _saved_bytes(model, directory)) for name, model, X in models]
    bomb_cache = {}

    def bombs_for(index, members):
        def bomb(name):
            if (index, name) not in bomb_cache:
                # 96 MB of zeros behind a plausible .npy header, about 100 kB deflated.
                bomb_cache[(index, name)] = hf.bomb_archive(
                    [m for m in members if m[0] != name], name,
                    hf.npy_header((12 * 2**20,), "<f8"), 96 * 2**20)
            return bomb_cache[(index, name)]
        return bomb

    import cnet
    for _, model, X, data in files:   # warm up: what a clean load costs is not growth
        _check(model, X, data, True)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    outcomes = {"loaded": 0, "refused": 0, "failed": 0}
    failures, slowest = [], 0.0
    for case in range(cases):
        index = rng.randrange(len(files))
        name, model, X, data = files[index]
        members = hf.members_of(data)
        what, damaged, exact = _case(data, members, rng, bombs_for(index, members))
        outcome, problem, seconds = _check(model, X, damaged, exact)
        outcomes[outcome] += 1
        slowest = max(slowest, seconds)
        if problem:
            failures.append({"case": case, "model": name, "damage": what, "problem": problem})
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
    print(json.dumps({"cases": cases, "seed": seed, "outcomes": outcomes, "failures": failures,
                      "rss_growth": growth, "slowest_load_seconds": round(slowest, 4),
                      "cnet": os.path.dirname(cnet.__file__)}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
