"""The scikit-learn steps before a cnet model in a ``Pipeline``, as a model file holds them:
their parameters and fitted numbers, never a pickle.

A file of a pipeline is the file of its last step (a cnet model) with a ``pipeline`` object
in the header: the pipeline's own parameters, and for every step before the model its name,
its class (one of :data:`STEPS`), its parameters and its fitted JSON values; the step's arrays
(a scaler's means, an imputer's statistics, an encoder's categories, the column names it was
fitted on) are members named ``step<i>.<name>``. Each kind of step says here what it stores,
which arrays a stored state must hold (so that :func:`cnet.persistence.load` checks their
shapes and dtypes before reading them) and how it is rebuilt, every value checked: a scale of
0, a NaN mean, categories out of order or of another type, a step taking more or fewer
columns than the one before gives, each is a ``ValueError`` naming the step.

scikit-learn is imported when a pipeline is saved or loaded, not before: a file of a plain
model needs none of it here.
"""
import math
import numbers

import numpy as np

from cnet._npz_reader import short_list
from cnet._state_fields import (ArraySpec, StateFields, check_finite, from_json, is_number,
                                jsonable, native_copy)

# An encoder's categories are rebuilt by fitting it on rows made of them, one column per
# input column: rows times columns is bounded so that this costs at most 32 MiB.
MAX_REBUILD_CELLS = 2**22
# Step names and column names shown in messages are cut to this length.
_SHOWN = 40


def member(index, name):
    """The archive member (without ``.npy``) of array ``name`` of step ``index``."""
    return f"step{index}.{name}"


def _refuse_step(name, step):
    raise TypeError(f"cannot save step {name!r:.{_SHOWN}} ({type(step).__name__}): a "
                    f"pipeline in a cnet model file may hold {', '.join(sorted(STEPS))} "
                    f"(in any order) and ends with a cnet model; nothing is pickled")


def _check_fitted(name, step):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
    try:
        check_is_fitted(step)
    except NotFittedError:
        raise ValueError(f"step {name!r:.{_SHOWN}} is not fitted; fit the pipeline before "
                         f"saving it") from None


def _params(name, step, keys, encode=None):
    """The step's parameters ``keys`` as JSON, through ``encode`` for those JSON cannot
    hold as they are."""
    values = step.get_params(deep=False)
    out = {}
    for key in keys:
        value = values[key]
        if encode is not None:
            value = encode(key, value)
        try:
            out[key] = jsonable(key, value)
        except ValueError as exc:
            raise ValueError(f"step {name!r:.{_SHOWN}}: {exc}") from None
    return out


def _built(cls, name, params, decode=None):
    """``cls`` made from stored parameters and checked as scikit-learn's ``fit`` checks
    them (its messages)."""
    try:
        params = {key: from_json(value) for key, value in params.items()}
        if decode is not None:
            params = {key: decode(key, value) for key, value in params.items()}
        step = cls(**params)
        step._validate_params()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"step {name!r:.{_SHOWN}}: the saved parameters do not fit "
                         f"{cls.__name__}: {str(exc)[:200]}") from None
    return step


def _input_state(step):
    fitted = {"n_features_in_": int(step.n_features_in_)}
    arrays = {}
    if getattr(step, "feature_names_in_", None) is not None:
        arrays["feature_names_in"] = np.asarray(step.feature_names_in_, dtype=str)
    return fitted, arrays


def _input_layout(fields):
    n = fields.get("n_features_in_", "int", low=1)
    return n, {"feature_names_in": ArraySpec([(n,)], "U", required=False)}


def _set_input(step, fields, arrays):
    step.n_features_in_ = fields.get("n_features_in_", "int", low=1)
    if "feature_names_in" in arrays:
        names = arrays["feature_names_in"].tolist()
        if len(set(names)) != len(names):
            raise ValueError("its feature names are not distinct")
        # scikit-learn keeps column names as an object array of Python strings.
        step.feature_names_in_ = np.asarray(names, dtype=object)


def _float_array(name, what, value):
    """A fitted statistic as float32 or float64, as scikit-learn computed it."""
    array = np.asarray(value)
    if array.dtype.kind in "iub" or array.dtype == object:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"step {name!r:.{_SHOWN}}: its {what} are not numbers; cnet "
                             f"saves numeric steps only") from None
    if array.dtype.name not in ("float32", "float64"):
        raise ValueError(f"step {name!r:.{_SHOWN}}: its {what} are {array.dtype}, not "
                         f"float32 or float64")
    return array


def _samples_seen(value, what="n_samples_seen_"):
    """n_samples_seen_, an integer or one per feature: not used to transform, kept as
    scikit-learn has it."""
    if np.ndim(value) == 0:
        return {what: int(value)}, {}
    return {}, {what: np.asarray(value)}


class _StandardScaler:
    """``StandardScaler``: mean and scale per column (``var_`` kept too)."""

    params = ("with_mean", "with_std", "copy")

    def state(self, name, step):
        fitted, arrays = _input_state(step)
        for key in ("mean_", "var_", "scale_"):
            if getattr(step, key, None) is not None:
                arrays[key] = _float_array(name, key, getattr(step, key))
        more_fitted, more_arrays = _samples_seen(step.n_samples_seen_)
        return {**fitted, **more_fitted}, {**arrays, **more_arrays}

    def layout(self, params, fields):
        n, layout = _input_layout(fields)
        std = params.get("with_std") is True
        return {**layout, "mean_": ArraySpec([(n,)], "F", required=params.get("with_mean")
                                             is True),
                "var_": ArraySpec([(n,)], "F", required=std),
                "scale_": ArraySpec([(n,)], "F", required=std),
                "n_samples_seen_": ArraySpec([(n,)], "biuf", required=False)}

    def restore(self, step, fields, arrays):
        _set_input(step, fields, arrays)
        for key in ("mean_", "var_", "scale_"):
            value = arrays.get(key)
            if value is not None:
                check_finite(value, f"{key} values")
            setattr(step, key, value)
        if not step.with_std:
            # scikit-learn's transform divides by scale_ whenever it is not None.
            step.var_ = step.scale_ = None
        if step.scale_ is not None and not (step.scale_ > 0).all():
            raise ValueError("its scale_ holds values <= 0 (scikit-learn stores 1 for a "
                             "constant column)")
        if step.var_ is not None and not (step.var_ >= 0).all():
            raise ValueError("its var_ holds negative values")
        step.n_samples_seen_ = _restored_samples_seen(fields, arrays)
        return step.n_features_in_


def _restored_samples_seen(fields, arrays):
    if "n_samples_seen_" in arrays:
        seen = arrays["n_samples_seen_"]
        if not (np.isfinite(seen).all() and (seen >= 0).all()):
            raise ValueError("its n_samples_seen_ are not counts")
        return seen
    return fields.get("n_samples_seen_", "int")


class _MinMaxScaler:
    """``MinMaxScaler``: ``X * scale_ + min_`` per column (the data's range kept too)."""

    params = ("feature_range", "copy", "clip")

    def state(self, name, step):
        fitted, arrays = _input_state(step)
        for key in ("min_", "scale_", "data_min_", "data_max_", "data_range_"):
            arrays[key] = _float_array(name, key, getattr(step, key))
        more_fitted, more_arrays = _samples_seen(step.n_samples_seen_)
        return {**fitted, **more_fitted}, {**arrays, **more_arrays}

    def layout(self, params, fields):
        n, layout = _input_layout(fields)
        return {**layout, **{key: ArraySpec([(n,)], "F") for key in
                             ("min_", "scale_", "data_min_", "data_max_", "data_range_")},
                "n_samples_seen_": ArraySpec([(n,)], "biuf", required=False)}

    def restore(self, step, fields, arrays):
        _set_input(step, fields, arrays)
        low, high = step.feature_range
        if not (is_number(low) and is_number(high) and math.isfinite(low)
                and math.isfinite(high) and low < high):
            raise ValueError(f"its feature_range {step.feature_range!r:.60} is not two "
                             f"finite numbers, the first smaller")
        for key in ("min_", "scale_", "data_min_", "data_max_", "data_range_"):
            check_finite(arrays[key], f"{key} values")
            setattr(step, key, arrays[key])
        if not (step.scale_ > 0).all():
            raise ValueError("its scale_ holds values <= 0")
        step.n_samples_seen_ = _restored_samples_seen(fields, arrays)
        return step.n_features_in_


def _missing_values(key, value):
    """SimpleImputer's missing_values: NaN (stored as the string "nan") or a number."""
    if key != "missing_values":
        return value
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if is_number(value) or isinstance(value, np.number) and np.isfinite(value):
        return value
    raise ValueError(f"missing_values={value!r:.40} is not stored: NaN or a number only")


def _stored_missing_values(key, value):
    if key == "missing_values":
        if value == "nan":
            return np.nan
        if not (is_number(value) and math.isfinite(value)):
            raise ValueError(f"missing_values is {value!r:.40}, not 'nan' or a number")
    if key == "fill_value" and value is not None and not (
            is_number(value) and math.isfinite(value)):
        raise ValueError(f"fill_value is {value!r:.40}, not a finite number or null")
    return value


class _SimpleImputer:
    """``SimpleImputer`` of numeric columns: one statistic per column, NaN where a column
    had no value (such a column is dropped, unless ``keep_empty_features``)."""

    params = ("missing_values", "strategy", "fill_value", "copy", "add_indicator",
              "keep_empty_features")
    encode = staticmethod(_missing_values)
    decode = staticmethod(_stored_missing_values)

    def state(self, name, step):
        if step.add_indicator:
            raise TypeError(f"cannot save step {name!r:.{_SHOWN}}: a SimpleImputer with "
                            f"add_indicator=True holds a MissingIndicator, which cnet does not "
                            f"save")
        if step.fill_value is not None and not isinstance(step.fill_value, numbers.Real):
            raise TypeError(f"cannot save step {name!r:.{_SHOWN}}: fill_value "
                            f"{step.fill_value!r:.40} is not a number (cnet saves numeric "
                            f"imputers only)")
        fitted, arrays = _input_state(step)
        for key in ("_fit_dtype", "_fill_dtype"):
            dtype = np.dtype(getattr(step, key))
            if dtype.name not in ("float32", "float64"):
                raise TypeError(f"cannot save step {name!r:.{_SHOWN}}: it was fitted on "
                                f"{dtype} columns; cnet saves imputers of float columns")
            fitted[key.strip("_")] = dtype.name
        arrays["statistics_"] = _float_array(name, "statistics_", step.statistics_)
        return fitted, arrays

    def layout(self, params, fields):
        n, layout = _input_layout(fields)
        return {**layout, "statistics_": ArraySpec([(n,)], "F")}

    def restore(self, step, fields, arrays):
        _set_input(step, fields, arrays)
        if step.add_indicator:
            raise ValueError("add_indicator is true; cnet files hold no MissingIndicator")
        for key in ("fit_dtype", "fill_dtype"):
            dtype = fields.get(key, "str")
            if dtype not in ("float32", "float64"):
                raise ValueError(f"its {key} is {dtype!r:.40}, not float32 or float64")
            setattr(step, f"_{key}", np.dtype(dtype))
        statistics = arrays["statistics_"]
        if np.isinf(statistics).any():
            raise ValueError("its statistics_ hold infinity")
        empty = np.isnan(statistics)
        if empty.any() and (step.keep_empty_features or step.strategy == "constant"):
            raise ValueError("its statistics_ hold NaN, which only a column without values "
                             "gives, and it keeps such columns (or fills a constant)")
        step.statistics_ = statistics
        step.indicator_ = None
        # A column without values is dropped by transform.
        return step.n_features_in_ - int(empty.sum())


STEPS = {"StandardScaler": _StandardScaler(), "MinMaxScaler": _MinMaxScaler(),
         "SimpleImputer": _SimpleImputer()}


def _step_class(name):
    if name == "StandardScaler" or name == "MinMaxScaler":
        import sklearn.preprocessing
        return getattr(sklearn.preprocessing, name)
    if name == "SimpleImputer":
        from sklearn.impute import SimpleImputer
        return SimpleImputer
    raise KeyError(name)


# --- the pipeline ------------------------------------------------------------------------------

def pipeline_state(pipeline, is_model):
    """What a file holds of ``pipeline`` besides its last step.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted; its last step a model ``is_model`` accepts.
    is_model : callable
        Whether an object is a cnet model that the file can hold.

    Returns
    -------
    model : the pipeline's last step
    part : dict
        The header's ``pipeline`` object.
    arrays : dict of {str: ndarray}
        The steps' arrays, by member name.

    Raises
    ------
    TypeError
        Naming the first step cnet does not save, or a last step that is not a cnet model.
    ValueError
        If a step is not fitted or holds what the file cannot (strings, callables).
    """
    if getattr(pipeline, "transform_input", None) is not None:
        raise TypeError("cannot save a Pipeline with transform_input set")
    steps = list(pipeline.steps)
    if not steps:
        raise ValueError("the pipeline has no steps")
    last_name, model = steps[-1]
    if not is_model(model):
        raise TypeError(f"cannot save a pipeline ending in {type(model).__name__} (step "
                        f"{last_name!r:.{_SHOWN}}): its last step must be a cnet model")
    described, arrays = [], {}
    for index, (name, step) in enumerate(steps[:-1]):
        if step is None or (isinstance(step, str) and step == "passthrough"):
            described.append({"name": name, "class": "passthrough"})
            continue
        codec = STEPS.get(type(step).__name__)
        if codec is None or _step_class(type(step).__name__) is not type(step):
            _refuse_step(name, step)
        _check_fitted(name, step)
        params = _params(name, step, codec.params, getattr(codec, "encode", None))
        fitted, step_arrays = codec.state(name, step)
        described.append({"name": name, "class": type(step).__name__, "params": params,
                          "fitted": fitted})
        arrays.update({member(index, key): value for key, value in step_arrays.items()})
    part = {"name": last_name, "params": {"verbose": bool(pipeline.verbose)},
            "steps": described}
    return model, part, arrays


class PipelineReader:
    """The header's ``pipeline`` object, read and checked before any array is.

    Parameters
    ----------
    part : object
        The header's ``pipeline`` value (anything: it is checked).

    Raises
    ------
    ValueError
        If it is not a pipeline description cnet writes.
    """

    def __init__(self, part):
        if not isinstance(part, dict) or not isinstance(part.get("steps"), list):
            raise ValueError(f"the header's pipeline is {part!r:.60}, not an object with a "
                             f"list of steps")
        self.name = part.get("name")
        params = part.get("params")
        if not (isinstance(params, dict) and set(params) == {"verbose"}
                and isinstance(params["verbose"], bool)):
            raise ValueError(f"the header's pipeline.params is {params!r:.60}, not "
                             f"{{'verbose': true or false}}")
        self.verbose = params["verbose"]
        self.steps = []
        for index, entry in enumerate(part["steps"]):
            where = f"pipeline.steps[{index}]"
            if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)):
                raise ValueError(f"the header's {where} is {entry!r:.60}, not a named step")
            kind = entry.get("class")
            if kind == "passthrough" and set(entry) == {"name", "class"}:
                self.steps.append((entry["name"], kind, None, None))
                continue
            if not isinstance(kind, str) or kind not in STEPS:
                raise ValueError(f"the header's {where}.class is {kind!r:.60}; cnet files "
                                 f"hold {short_list(sorted(STEPS), 5)} or 'passthrough'")
            if not (isinstance(entry.get("params"), dict)
                    and set(entry["params"]) == set(STEPS[kind].params)):
                raise ValueError(f"the header's {where}.params are not a {kind}'s "
                                 f"{short_list(STEPS[kind].params, 6)}")
            if not isinstance(entry.get("fitted"), dict):
                raise ValueError(f"the header's {where}.fitted is not a JSON object")
            self.steps.append((entry["name"], kind, entry["params"],
                               StateFields(entry["fitted"], where=f"{where}.fitted")))
        if not isinstance(self.name, str):
            raise ValueError(f"the header's pipeline.name is {self.name!r:.40}, not a string")

    def layout(self):
        """``{member: ArraySpec}`` of every step's arrays, from the header alone."""
        layout = {}
        for index, (_, kind, params, fields) in enumerate(self.steps):
            if kind != "passthrough":
                for key, spec in STEPS[kind].layout(params, fields).items():
                    layout[member(index, key)] = spec
        return layout

    def build(self, arrays, model):
        """The fitted Pipeline: every step restored from ``arrays`` (checked members, by
        member name) and checked, then ``model`` last.

        Raises
        ------
        ValueError
            Naming the step whose values are wrong, or whose number of input columns is
            not what the step before gives.
        """
        from sklearn.pipeline import Pipeline
        steps, width = [], None
        for index, (name, kind, params, fields) in enumerate(self.steps):
            if kind == "passthrough":
                steps.append((name, "passthrough"))
                continue
            codec = STEPS[kind]
            step = _built(_step_class(kind), name, params, getattr(codec, "decode", None))
            prefix = member(index, "")
            own = {key[len(prefix):]: native_copy(value) for key, value in arrays.items()
                   if key.startswith(prefix)}
            try:
                n_out = codec.restore(step, fields, own)
            except ValueError as exc:
                raise ValueError(f"step {name!r:.{_SHOWN}} ({kind}): {exc}") from None
            if width is not None and step.n_features_in_ != width:
                raise ValueError(f"step {name!r:.{_SHOWN}} takes {step.n_features_in_} "
                                 f"columns, the step before gives {width}")
            width = n_out
            steps.append((name, step))
        if width is not None and model.n_features_in_ != width:
            raise ValueError(f"the model takes {model.n_features_in_} columns, the step "
                             f"before gives {width}")
        steps.append((self.name, model))
        try:
            pipeline = Pipeline(steps, verbose=self.verbose)
            pipeline._validate_steps()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the pipeline's steps are refused by scikit-learn: "
                             f"{str(exc)[:200]}") from None
        return pipeline
