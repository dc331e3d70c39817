"""Pieces of ``cnet bench`` kept out of ``cnet/bench.py``, one idea per module.

``peers``: the trainers of cnet, its numpy twin, scikit-learn and PyTorch; ``jax_peer`` and
``numba_peer``: the optional compiled peers; ``gate``: the check that every peer computes what
cnet computes before its time counts; ``whole_fit``: the rows timed as whole fits (lbfgs on
digits, sparse text-like input); ``machine``: what the numbers depend on.
"""
