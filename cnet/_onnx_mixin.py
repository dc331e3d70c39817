"""``to_onnx`` for cnet's models, and their registration with skl2onnx.

The models inherit :class:`OnnxExportMixin`; each class made from it is registered with
skl2onnx as soon as skl2onnx is imported (:mod:`cnet._onnx_skl2onnx`), so that
``skl2onnx.to_onnx`` converts pipelines holding cnet models whichever is imported first.
"""
import numpy as np

from cnet._onnx_graph import build_model, write
from cnet._onnx_skl2onnx import register_once_skl2onnx_is_imported


class OnnxExportMixin:
    """``to_onnx`` for cnet's models."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register_once_skl2onnx_is_imported(cls)

    def to_onnx(self, path=None, dtype=np.float32, zipmap=True, target_opset=None):
        """The fitted model as an ONNX model, written to ``path`` if given.

        Needs the ``onnx`` extra (``pip install "cnet-mlp[onnx]"``). The graph's input is
        ``X`` of shape ``(N, n_features)``; its outputs are skl2onnx's for scikit-learn's MLP
        (see :func:`cnet.onnx_export.export_onnx`).

        Parameters
        ----------
        path : str or path-like, optional
            File to write the model to.
        dtype : {np.float32, np.float64}, default np.float32
            The input's type, and the one the graph computes in.
        zipmap : bool, default True
            Classifiers: probabilities as a list of ``{class: probability}`` dicts (True,
            skl2onnx's default) or as a tensor (False).
        target_opset : int or dict, optional
            The standard domain's opset (13 to onnx's latest; default 17), or skl2onnx's
            ``{"": 17, "ai.onnx.ml": 1}``.

        Returns
        -------
        onnx.ModelProto
        """
        proto = build_model(self, dtype=dtype, zipmap=zipmap, target_opset=target_opset)
        if path is not None:
            write(proto, path)
        return proto
