"""cnet on dask: a grid search spread over workers, training on data no worker holds at
once, and prediction block by block.

Starts a two-worker LocalCluster on this machine; on a real cluster, connect the Client
to its scheduler instead and the rest is unchanged. Run: ``python examples/dask_scaleout.py``
"""
import warnings

import dask
import dask.array as da
import joblib
import numpy as np
from dask_ml.wrappers import Incremental, ParallelPostFit
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

import cnet


def lazy_table(n_rows, seed, chunk_rows=20_000):
    """A (n_rows, 20) dask array and its labels, made block by block where they are used:
    a stand-in for files too large to load, which ``da.from_zarr`` or
    ``dask.dataframe.read_parquet(...).to_dask_array(lengths=True)`` would read the same way."""
    X = da.random.default_rng(seed).standard_normal((n_rows, 20), chunks=(chunk_rows, 20))
    y = (X[:, 0] * X[:, 1] + X[:, 2] > 0).astype(int)
    return X.astype(np.float32), y


def main():
    """Run the three patterns on a two-worker LocalCluster and print what each got.

    Returns
    -------
    dict
        Test accuracy of the search's best model (``"search"``), of the Incremental model
        (``"incremental"``) and of the model behind ParallelPostFit (``"post_fit"``), and
        whether a block's labels equal ``predict`` of that block in memory
        (``"post_fit_equal"``).
    """
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster):
        results = {}

        # 1. Many fits of a small data set: scikit-learn's search, its fits run by the
        # workers through joblib's dask backend.
        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
        grid = {"hidden_layer_sizes": [(32,), (64,)], "alpha": [1e-4, 1e-1]}
        search = GridSearchCV(cnet.MLPClassifier(max_iter=40, random_state=0), grid,
                              n_jobs=-1)
        with warnings.catch_warnings(), joblib.parallel_backend("dask"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X_train, y_train)
        results["search"] = search.score(X_test, y_test)
        print(f"grid search: best {search.best_params_}, "
              f"test accuracy {results['search']:.3f}")

        # 2. Data larger than memory: partial_fit block by block, on the worker that holds
        # each block; only the model travels.
        X_big, y_big = lazy_table(400_000, seed=0)
        X_new, y_new = lazy_table(100_000, seed=1)
        model = Incremental(cnet.MLPClassifier(hidden_layer_sizes=(32,), batch_size=200,
                                               random_state=0), scoring="accuracy",
                            random_state=0)
        for _ in range(2):      # two passes over the 20 blocks, in shuffled order
            model.partial_fit(X_big, y_big, classes=[0, 1])
        results["incremental"] = model.score(X_new, y_new)
        print(f"incremental: {X_big.shape[0]:,} rows in {X_big.numblocks[0]} blocks, "
              f"accuracy on {X_new.shape[0]:,} new rows {results['incremental']:.3f}")

        # 3. Prediction on data larger than memory from a model fitted in memory (here on
        # a sample): one predict call per block, on the workers.
        X_sample, y_sample = dask.compute(X_big[:20_000], y_big[:20_000])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sampled = cnet.MLPClassifier(hidden_layer_sizes=(32,), max_iter=30,
                                         random_state=0).fit(X_sample, y_sample)
        labels = ParallelPostFit(sampled).predict(X_new)      # lazy: a dask array
        results["post_fit"] = float((labels == y_new).mean().compute())
        block, block_labels = dask.compute(X_new.blocks[0], labels.blocks[0])
        results["post_fit_equal"] = bool((block_labels == sampled.predict(block)).all())
        print(f"parallel post-fit: a model fitted on {len(X_sample):,} rows labels "
              f"{labels.shape[0]:,} new rows in {labels.numblocks[0]} blocks, accuracy "
              f"{results['post_fit']:.3f}; a block's labels equal predict in memory: "
              f"{results['post_fit_equal']}")
        return results


if __name__ == "__main__":
    main()
