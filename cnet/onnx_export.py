"""ONNX export of cnet's models and of scikit-learn pipelines that end in one.

``export_onnx(model, path)`` takes what ``cnet.load`` returns: a cnet model is written by
cnet's own graph builder (:mod:`cnet._onnx_graph`, onnx's helper API); a scikit-learn
``Pipeline`` goes through skl2onnx, with which cnet's models register a converter and a shape
calculator (:mod:`cnet._onnx_skl2onnx`) once skl2onnx is imported, so that
``skl2onnx.to_onnx(pipeline, X)`` exports pipelines holding them too. Both give the outputs
skl2onnx gives scikit-learn's MLP: serving code written for those models runs unchanged.

Needs the ``onnx`` extra: ``pip install "cnet-mlp[onnx]"`` (onnx, onnxruntime, skl2onnx).
"""
import numpy as np

from cnet import _onnx_graph
from cnet._onnx_graph import INSTALL_HINT, build_model, check_dtype, check_zipmap, write
from cnet._onnx_skl2onnx import register
from cnet.mlp import MLPClassifier, MLPRegressor
from cnet.neural_net import NeuralNet

__all__ = ["export_onnx", "register_skl2onnx_converters"]

_CNET_MODELS = (MLPClassifier, MLPRegressor, NeuralNet)


def export_onnx(model, path=None, dtype=np.float32, zipmap=True, target_opset=None):
    """A fitted cnet model, or a scikit-learn Pipeline ending in one, as an ONNX model.

    The graph's input is ``X``, ``(N, n_features)`` of ``dtype``. A classifier gives
    ``label`` (int64 for integer classes, strings for string classes; the 0/1 indicators,
    ``(N, n_labels)``, for a multi-label one) and ``probabilities`` (``predict_proba``'s
    columns); with ``zipmap=True`` these are ``output_label`` and ``output_probability``, a
    list of ``{class: probability}`` dicts, as skl2onnx names them. A regressor gives
    ``variable``, ``(N, n_outputs)`` (``exp`` applied for ``loss="poisson"``). Run it with
    onnxruntime::

        import onnxruntime as ort
        session = ort.InferenceSession(model.SerializeToString())
        label, probabilities = session.run(None, {"X": X.astype(np.float32)})

    A pipeline that starts with a ColumnTransformer fitted on a DataFrame (text columns
    one-hot encoded beside numbers) has one ``(N, 1)`` input per column instead of ``X``,
    string-typed for the encoded text columns, named as skl2onnx names them (the column's
    name, characters other than letters, digits and ``_`` made ``_``): read them from
    ``session.get_inputs()``.

    Parameters
    ----------
    model : MLPClassifier, MLPRegressor, NeuralNet or sklearn.pipeline.Pipeline
        Fitted. A pipeline's steps other than the last are exported by skl2onnx's own
        converters (scalers, imputers, encoders, ...).
    path : str or path-like, optional
        File to write the model to (whole or not at all).
    dtype : {np.float32, np.float64}, default np.float32
        The input's type, and the one the graph computes in. onnxruntime has no double
        ``Erf``: a float64 graph of a gelu network takes erf in float32.
    zipmap : bool, default True
        Classifiers: probabilities as dicts (ZipMap, skl2onnx's default) or as a tensor.
        ZipMap's probabilities are float32 whatever ``dtype``.
    target_opset : int or dict, optional
        Opset of the standard domain, 13 to onnx's latest (default 17 for a model,
        skl2onnx's choice for a pipeline), or ``{"": opset, "ai.onnx.ml": opset}``.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    ImportError
        If onnx (or, for a pipeline, skl2onnx) is not installed.
    ValueError
        For a bad ``dtype``, ``zipmap`` or ``target_opset``, or class labels that are
        neither integers nor strings.
    TypeError
        For anything other than the models above.
    """
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        proto = _export_pipeline(model, dtype, zipmap, target_opset)
    elif isinstance(model, _CNET_MODELS):
        proto = build_model(model, dtype=dtype, zipmap=zipmap, target_opset=target_opset)
    else:
        raise TypeError(f"export_onnx takes a fitted cnet MLPClassifier, MLPRegressor, "
                        f"NeuralNet or a scikit-learn Pipeline ending in one, got "
                        f"{type(model).__name__}")
    if path is not None:
        write(proto, path)
    return proto


def _require_skl2onnx():
    try:
        import skl2onnx
    except ImportError as exc:
        raise ImportError(f"exporting a pipeline needs skl2onnx: {INSTALL_HINT}") from exc
    return skl2onnx


def _export_pipeline(pipeline, dtype, zipmap, target_opset):
    from sklearn.base import is_classifier
    from sklearn.utils.validation import check_is_fitted

    _onnx_graph.require_onnx()
    skl2onnx = _require_skl2onnx()
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    dtype, zipmap = check_dtype(dtype), check_zipmap(zipmap)
    final = pipeline.steps[-1][1] if pipeline.steps else None
    if not isinstance(final, _CNET_MODELS):
        raise TypeError(f"the pipeline must end in a cnet model, not "
                        f"{type(final).__name__}")
    check_is_fitted(pipeline)
    if zipmap and dtype != np.float32 and isinstance(final, (MLPClassifier, NeuralNet)):
        raise ValueError("skl2onnx's ZipMap takes float32 probabilities: export a float64 "
                         "pipeline with zipmap=False")
    register_skl2onnx_converters()
    tensor = FloatTensorType if dtype == np.float32 else DoubleTensorType
    options = {id(final): {"zipmap": zipmap}} if is_classifier(final) else None
    if target_opset is not None:
        versions = _onnx_graph.opsets(target_opset)
        target_opset = versions if isinstance(target_opset, dict) else versions[""]
    try:
        return skl2onnx.convert_sklearn(pipeline,
                                        initial_types=_pipeline_inputs(pipeline, tensor),
                                        options=options, target_opset=target_opset)
    except (RuntimeError, NotImplementedError, KeyError) as exc:
        # skl2onnx's own errors (a step it has no converter for, ...): one ValueError, which
        # the command line shows as one line.
        message = " ".join(str(exc).split())[:300]
        raise ValueError(f"skl2onnx cannot export this pipeline: {type(exc).__name__}: "
                         f"{message}") from exc


def _pipeline_inputs(pipeline, tensor):
    """skl2onnx's ``initial_types``: one input ``X``, or, for a pipeline that starts with a
    ColumnTransformer fitted on named columns (a DataFrame's: text and numbers side by side),
    one ``(N, 1)`` input per column, strings for the columns an encoder took as text."""
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.compose import ColumnTransformer

    first = pipeline.steps[0][1]
    names = getattr(pipeline, "feature_names_in_", None)
    if not isinstance(first, ColumnTransformer) or names is None:
        n_features = getattr(pipeline, "n_features_in_", None)
        if n_features is None:
            raise ValueError("the pipeline's first step does not record n_features_in_")
        return [("X", tensor([None, int(n_features)]))]
    names = np.asarray(names, dtype=object)
    text = set()
    for _, transformer, columns in first.transformers_:
        while hasattr(transformer, "steps"):      # a Pipeline inside the ColumnTransformer
            transformer = transformer.steps[-1][1]
        categories = getattr(transformer, "categories_", None)
        if categories is None or not any(np.asarray(c).dtype.kind in "OUS"
                                         for c in categories):
            continue
        selected = np.atleast_1d(np.asarray(columns, dtype=object))
        text.update(str(c) if isinstance(c, str) else names[c] for c in selected)
    return [(str(name), StringTensorType([None, 1]) if name in text else tensor([None, 1]))
            for name in names]


def register_skl2onnx_converters():
    """Register cnet's models with skl2onnx: ``skl2onnx.to_onnx`` then converts pipelines
    holding them, with skl2onnx's classifier options ``zipmap`` (True, False, "columns"),
    ``nocl`` and ``output_class_labels``. Done already when skl2onnx is imported (before or
    after cnet); calling it again changes nothing.

    Raises
    ------
    ImportError
        If skl2onnx is not installed.
    """
    _require_skl2onnx()
    register(_CNET_MODELS)
