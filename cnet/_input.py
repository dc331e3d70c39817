"""The form in which validated X reaches the engine, shared by every front end.

The compiled loop reads a dense X as a C-contiguous array and a sparse X as CSR, in the
parameters' dtype. scikit-learn's ``validate_data`` checks values and shapes; this module
only settles the layout, so that a sparse X stays sparse (CSC becomes CSR, never dense).
"""
import numpy as np
import scipy.sparse as sp

# Sparse formats the front ends accept; validate_data converts others to the first.
SPARSE_FORMATS = ["csr", "csc"]


def as_training_input(X, dtype):
    """Dense X as a C-contiguous array, sparse X as CSR with summed duplicates, of ``dtype``.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix or array
    dtype : dtype
        float32 or float64, the parameters' dtype.

    Returns
    -------
    ndarray or scipy.sparse CSR matrix or array
    """
    if sp.issparse(X):
        X = X.tocsr().astype(dtype, copy=False)
        if not X.has_canonical_format:
            # Sorted, duplicate-free rows give the same sums in every backend.
            X = X.copy()
            X.sum_duplicates()
        return X
    return np.ascontiguousarray(X, dtype=dtype)
