"""What loading a hostile model file costs: outcome, time and peak memory, per file.

Builds the files an attacker would hand to ``cnet.load`` (deflate bombs declared and not,
a huge declared ``classes`` array, 100,000 extra members, a zip64 record claiming a huge
directory, an ``.npy`` header claiming 2**40 items, headers of 4 MB; in a pipeline, a
bomb of declared categories, a ColumnTransformer of 10**9 columns, a scale of 0), and for
contrast a legitimate model of about 9 MB and a legitimate pipeline one-hot encoding 50,000
categories, then loads each in a fresh interpreter and prints:

- the file's size,
- the outcome (``loaded``, or the start of the ``ValueError``),
- the wall time of ``cnet.load``,
- the peak RSS growth during the load (on Linux the peak is reset before loading through
  ``/proc/self/clear_refs``, elsewhere ``ru_maxrss`` after minus before) and the peak of
  tracemalloc (numpy reports its allocations to it) in a second run, as tracemalloc slows
  the load and adds its own memory.

The README's bound: any file under 10 MB is refused or loaded in under a second with under
100 MB of peak memory beyond the model's own arrays. Run from the repository root::

    python scripts/load_bounds.py            # against the cnet that python imports
    PYTHONPATH=. python scripts/load_bounds.py

It writes about 50 MB of files into a temporary directory and takes a minute or so, most of
it compressing the bombs.
"""
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import hostile_files as hf  # noqa: E402

CHILD = r"""
import json, resource, sys, time, tracemalloc
import cnet
path, traced = sys.argv[1], sys.argv[2] == "traced"

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))

try:   # Linux: reset the peak RSS to the current one, so the peak is the load's own
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS:")
    peak = lambda: status("VmHWM:")
except OSError:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if traced:   # tracemalloc's own bookkeeping costs time and memory: a separate run
    tracemalloc.start()
started = time.perf_counter()
try:
    model = cnet.load(path)
    outcome = "loaded " + type(model).__name__
except ValueError as exc:
    outcome = "ValueError: " + str(exc).split(": ", 1)[-1]
except BaseException as exc:
    outcome = "!! " + type(exc).__name__ + ": " + str(exc)
seconds = time.perf_counter() - started
after = peak()
traced = tracemalloc.get_traced_memory()[1]
print(json.dumps({"outcome": outcome, "seconds": seconds, "rss": after - before,
                  "traced": traced}))
"""


def _base_model(directory):
    import cnet
    from sklearn.datasets import make_moons
    from sklearn.exceptions import ConvergenceWarning
    X, y = make_moons(60, noise=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = cnet.MLPClassifier((5,), max_iter=3, random_state=0).fit(X, y)
        path = os.path.join(directory, "base.npz")
        model.save(path)
        big = cnet.MLPRegressor(hidden_layer_sizes=(1000,), max_iter=1, random_state=0).fit(
            np.random.default_rng(0).standard_normal((20, 380)), np.zeros(20))
        big_path = os.path.join(directory, "legitimate-9MB.npz")
        big.save(big_path)
    with open(path, "rb") as file:
        return hf.members_of(file.read()), big_path


def _zip64_claim(members):
    """A zip64 end record, where zipfile looks for one, claiming a 4 GB directory."""
    data = bytearray(hf.archive(members))
    end = data.rfind(b"PK\x05\x06")
    record = (b"PK\x06\x06" + (44).to_bytes(8, "little") + (45).to_bytes(2, "little") * 2
              + bytes(8) + (10**6).to_bytes(8, "little") * 2 + (2**32).to_bytes(8, "little")
              + (0).to_bytes(8, "little"))
    locator = b"PK\x06\x07" + bytes(4) + end.to_bytes(8, "little") + (1).to_bytes(4, "little")
    return bytes(data[:end]) + record + locator + bytes(data[end:])


def hostile_files(directory):
    """``{description: path}`` of the files to load."""
    members, legitimate = _base_model(directory)
    header = hf.header_of(members)
    files = {"a legitimate model (MLPRegressor, 381,001 parameters)": legitimate}

    def write(name, data):
        path = os.path.join(directory, name.replace(" ", "-")[:60] + ".npz")
        with open(path, "wb") as file:
            file.write(data)
        files[name] = path

    write("undeclared member: 1 GiB of zeros deflated",
          hf.bomb_archive(members, "junk.npy", hf.npy_header((2**27,), "<f8"), 2**30))
    classes = dict(header, arrays=dict(header["arrays"], classes=[[2**26], "<i8"]))
    write("declared classes of 2**26 items, deflated (512 MiB)",
          hf.bomb_archive([m for m in hf.with_header(members, classes)
                           if m[0] != "classes.npy"], "classes.npy",
                          hf.npy_header((2**26,), "<i8"), 2**29))
    write("declared classes of 10**9 items, header only",
          hf.archive(hf.with_header(members, dict(header, arrays=dict(
              header["arrays"], classes=[[10**9], "<i8"])))))
    layers = [2, 20_000_000, 1]
    n = 4 * layers[1] + 1
    bomb_header = dict(header, arrays=dict(header["arrays"], params=[[n], "<f8"],
                                           optimizer_state=[[2, n], "<f8"]),
                       params=dict(header["params"], hidden_layer_sizes={"tuple": [layers[1]]}),
                       fitted=dict(header["fitted"], layers=layers))
    write("params for layers [2, 2e7, 1] deflated (640 MB)",
          hf.bomb_archive([m for m in hf.with_header(members, bomb_header)
                           if m[0] != "params.npy"], "params.npy", hf.npy_header((n,), "<f8"),
                          8 * n))
    write("100,000 extra members", hf.many_members(members, 100_000))
    write("zip64 record claiming a 4 GB directory", _zip64_claim(members))
    write(".npy header claiming 2**40 parameters",
          hf.archive([(name, hf.npy_header((2**40,), "<f8") + bytes(64)
                       if name == "params.npy" else data) for name, data in members]))
    write("header of 1.3 million empty lists (4 MB)",
          hf.archive(hf.with_header(members, b"[" + b"[]," * 1_300_000 + b"[]]")))
    curve = dict(header, fitted=dict(header["fitted"], loss_curve_=[0.5] * 700_000))
    write("header with a loss curve of 700,000 epochs (3.5 MB)",
          hf.archive(hf.with_header(members, curve)))
    _pipeline_files(directory, files, write)
    return files


def _pipeline_files(directory, files, write):
    """Pipelines: a legitimate one-hot encoder of 50,000 categories (rebuilt by fitting it
    on rows of them), and hostile ones aimed at the steps' members."""
    import cnet
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    n = 50_000
    frame = pd.DataFrame({"city": [f"city{i:05d}" for i in range(n)],
                          "x": np.random.default_rng(0).standard_normal(n)})
    pipeline = Pipeline([("encode", ColumnTransformer([("onehot", OneHotEncoder(
        handle_unknown="ignore"), ["city"])], remainder="passthrough")),
        ("scale", StandardScaler(with_mean=False)),
        ("mlp", cnet.MLPClassifier((2,), max_iter=1, random_state=0))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(frame, np.arange(n) % 2)
    legitimate = os.path.join(directory, "pipeline-50000-categories.npz")
    cnet.save(pipeline, legitimate)
    files["a legitimate pipeline: one-hot of 50,000 categories"] = legitimate
    with open(legitimate, "rb") as file:
        members = hf.members_of(file.read())
    header = hf.header_of(members)
    count = 2**24
    bomb = json.loads(json.dumps(header))
    bomb["pipeline"]["steps"][0]["fitted"]["transformers"][0]["fitted"]["n_categories"] = [count]
    bomb["arrays"]["step0.t0.categories0"] = [[count], "<U9"]
    write("pipeline: 2**24 categories declared, deflated (600 MiB)",
          hf.bomb_archive([m for m in hf.with_header(members, bomb)
                           if m[0] != "step0.t0.categories0.npy"], "step0.t0.categories0.npy",
                          hf.npy_header((count,), "<U9"), 36 * count))
    wide = json.loads(json.dumps(header))
    del wide["arrays"]["step0.feature_names_in"]
    wide["pipeline"]["steps"][0]["fitted"]["n_features_in_"] = 10**9
    write("pipeline: a ColumnTransformer of 10**9 columns, header only",
          hf.archive([m for m in hf.with_header(members, wide)
                      if m[0] != "step0.feature_names_in.npy"]))
    scaled = hf.with_array(members, "step1.scale_", np.zeros(n + 1))
    write("pipeline: a scaler of scale 0", hf.archive(scaled))


def main():
    with tempfile.TemporaryDirectory() as directory:
        files = hostile_files(directory)
        print(f"{'file':52} {'MB':>6} {'seconds':>8} {'RSS+ MB':>8} {'traced MB':>9}  outcome")
        for name, path in files.items():
            runs = [subprocess.run([sys.executable, "-c", CHILD, path, mode],
                                   capture_output=True, text=True)
                    for mode in ("plain", "traced")]
            died = [run for run in runs if run.returncode != 0]
            if died:
                print(f"{name:52} the loading process died ({died[0].returncode}): "
                      f"{died[0].stderr[-300:]}")
                continue
            r, t = (json.loads(run.stdout.strip().splitlines()[-1]) for run in runs)
            print(f"{name:52} {os.path.getsize(path) / 2**20:6.1f} {r['seconds']:8.3f} "
                  f"{r['rss'] / 2**20:8.1f} {t['traced'] / 2**20:9.1f}  {r['outcome'][:90]}")


if __name__ == "__main__":
    main()
