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
import warnings

import numpy as np

from cnet._npz_reader import short_list
from cnet._state_fields import (MAX_INT, ArraySpec, StateFields, check_finite, finite,
                                from_json, is_int, is_number, jsonable, native_copy)

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


def _built(cls, name, params, decode=None, **fixed):
    """``cls`` made from stored parameters (and ``fixed`` ones) and checked as
    scikit-learn's ``fit`` checks them (its messages)."""
    try:
        params = {key: from_json(value) for key, value in params.items()}
        if decode is not None:
            params = {key: decode(key, value) for key, value in params.items()}
        step = cls(**fixed, **params)
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
        layout["n_samples_seen_"] = ArraySpec([(n,)], "biuf", required=False)
        # As scikit-learn fits them: the mean unless neither centring nor scaling, the
        # variance and scale only with scaling. An array the parameters make unused is
        # refused, not dropped: the file would not be the model it holds.
        if params.get("with_std") is True:
            layout["var_"] = layout["scale_"] = ArraySpec([(n,)], "F")
        if params.get("with_mean") is True or params.get("with_std") is True:
            layout["mean_"] = ArraySpec([(n,)], "F")
        return layout

    def restore(self, step, fields, arrays):
        _set_input(step, fields, arrays)
        for key in ("mean_", "var_", "scale_"):
            value = arrays.get(key)
            if value is not None:
                check_finite(value, f"{key} values")
            setattr(step, key, value)
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
        if not (is_number(low) and is_number(high) and finite(low) and finite(high)
                and low < high):
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


def _encoder_param(key, value):
    """A OneHotEncoder's parameter as stored: its categories_ are the arrays, so an explicit
    ``categories`` list is only marked "given"; dtype by name."""
    if key == "categories":
        return "auto" if isinstance(value, str) and value == "auto" else "given"
    if key == "dtype":
        name = np.dtype(value).name
        if name not in ("float32", "float64"):
            raise ValueError(f"dtype={name} is not stored: float32 or float64 only")
        return name
    return value


def _stored_encoder_param(key, value):
    if key == "dtype":
        if value not in ("float32", "float64"):
            raise ValueError(f"dtype is {value!r:.40}, not float32 or float64")
        return np.dtype(value).type
    if key == "categories":
        if value not in ("auto", "given"):
            raise ValueError(f"categories is {value!r:.40}, not 'auto' or 'given'")
        # Given categories are the stored arrays: restore sets them.
        return "auto"
    return value


class _OneHotEncoder:
    """``OneHotEncoder`` inside a ``ColumnTransformer``: its categories, one array per
    column (strings or numbers). The encoder is rebuilt by :class:`_ColumnTransformer`,
    which fits it on rows made of those categories."""

    params = ("categories", "drop", "dtype", "handle_unknown", "sparse_output",
              "feature_name_combiner", "min_frequency", "max_categories")
    encode = staticmethod(_encoder_param)
    decode = staticmethod(_stored_encoder_param)

    def state(self, name, step):
        for key in ("min_frequency", "max_categories"):
            if getattr(step, key) is not None:
                raise TypeError(f"cannot save encoder {name!r:.{_SHOWN}}: {key} groups "
                                f"infrequent categories, which cnet files do not hold")
        if not (step.drop is None or isinstance(step.drop, str)):
            raise TypeError(f"cannot save encoder {name!r:.{_SHOWN}}: drop must be None, "
                            f"'first' or 'if_binary' (not a list of categories)")
        if not (isinstance(step.feature_name_combiner, str)
                and step.feature_name_combiner == "concat"):
            raise TypeError(f"cannot save encoder {name!r:.{_SHOWN}}: a callable "
                            f"feature_name_combiner")
        fitted, arrays = _input_state(step)
        fitted["n_categories"] = [len(c) for c in step.categories_]
        for index, categories in enumerate(step.categories_):
            arrays[f"categories{index}"] = _storable_categories(name, categories)
        return fitted, arrays

    def layout(self, params, fields):
        n, layout = _input_layout(fields)
        counts = fields.mapping.get("n_categories")
        if not (isinstance(counts, list) and len(counts) == n
                and all(is_int(c) and 1 <= c <= MAX_INT for c in counts)):
            raise ValueError(f"the header's {fields.where}.n_categories is {counts!r:.60}, "
                             f"not {n} positive integers")
        return {**layout, **{f"categories{index}": ArraySpec([(count,)], "biufU")
                             for index, count in enumerate(counts)}}

    def categories(self, fields, arrays):
        """The checked categories, one array per column."""
        n = fields.get("n_features_in_", "int", low=1)
        out = []
        for index in range(n):
            categories = arrays[f"categories{index}"]
            if categories.dtype.kind == "U":
                if len(set(categories.tolist())) != len(categories):
                    raise ValueError(f"its categories of column {index} are not distinct")
                # scikit-learn keeps a string column's categories as Python strings.
                categories = categories.astype(object)
            else:
                if categories.dtype.kind == "b":
                    raise ValueError(f"its categories of column {index} are booleans, not "
                                     f"numbers or strings")
                check_finite(categories, f"categories of column {index}")
                if not (categories[1:] > categories[:-1]).all():
                    raise ValueError(f"its categories of column {index} are not sorted and "
                                     f"distinct")
            out.append(categories)
        return out


def _storable_categories(name, categories):
    """One column's categories as a plain array: strings or numbers, never objects."""
    categories = np.asarray(categories)
    if categories.dtype.kind in "iuf":
        if categories.dtype.kind == "f" and not np.isfinite(categories).all():
            raise ValueError(f"encoder {name!r:.{_SHOWN}} has NaN among its categories: "
                             f"impute the column or drop those rows before encoding")
        return categories
    values = categories.tolist()
    if all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=str)
    raise ValueError(f"encoder {name!r:.{_SHOWN}} has categories that are not all strings "
                     f"or all numbers ({short_list(values)}); missing values among them "
                     f"are not stored: impute the column or drop those rows first")


# A ColumnTransformer's n_jobs starts worker processes: a file may ask for a few, not a
# million.
MAX_JOBS = 64


class _ColumnTransformer:
    """``ColumnTransformer`` of ``OneHotEncoder`` s and of the steps above, ``"passthrough"``
    and ``"drop"``; remainder ``"passthrough"`` or ``"drop"``.

    Rebuilt by scikit-learn's own ``fit``, on rows made of the stored categories (zeros in
    the other columns), so that every attribute its ``transform`` reads is scikit-learn's;
    the encoders' categories come out as stored, the other steps' fitted numbers are then
    put back, and so is ``sparse_output_`` (which the training rows' density decided).
    """

    params = ("remainder", "sparse_threshold", "n_jobs", "transformer_weights", "verbose",
              "verbose_feature_names_out")
    # The transformers are its fitted state here, set by restore.
    fixed = {"transformers": []}

    def state(self, name, step):
        from sklearn.compose import ColumnTransformer
        if type(step) is not ColumnTransformer:
            _refuse_step(name, step)
        if not (isinstance(step.remainder, str) and step.remainder in ("passthrough", "drop")):
            raise TypeError(f"cannot save step {name!r:.{_SHOWN}}: its remainder is "
                            f"{type(step.remainder).__name__}; cnet saves 'passthrough' or "
                            f"'drop'")
        fitted, arrays = _input_state(step)
        fitted["sparse_output_"] = bool(step.sparse_output_)
        inputs = step._transformer_to_input_indices
        transformers = []
        for index, (inner_name, template, _) in enumerate(step.transformers):
            inner = step.named_transformers_[inner_name]
            entry = {"name": inner_name, "columns": [int(c) for c in inputs[inner_name]]}
            if isinstance(template, str):
                entry["class"] = template
            else:
                kind = type(inner).__name__
                codec = INNER_STEPS.get(kind)
                if codec is None or _step_class(kind) is not type(inner):
                    _refuse_step(f"{name}/{inner_name}", inner)
                entry["class"] = kind
                entry["fitted"], inner_arrays = codec.state(inner_name, inner)
                entry["params"] = _params(inner_name, inner, codec.params,
                                          getattr(codec, "encode", None))
                arrays.update({f"t{index}.{key}": value for key, value in inner_arrays.items()})
            transformers.append(entry)
        fitted["transformers"] = transformers
        return fitted, arrays

    def _transformers(self, fields, n):
        entries = fields.mapping.get("transformers")
        if not isinstance(entries, list):
            raise ValueError(f"the header's {fields.where}.transformers is not a list")
        out, names = [], set()
        for index, entry in enumerate(entries):
            where = f"{fields.where}.transformers[{index}]"
            if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                    and entry["name"] not in names):
                raise ValueError(f"the header's {where} is not a step of a distinct name")
            names.add(entry["name"])
            columns = entry.get("columns")
            if not (isinstance(columns, list) and all(is_int(c) and 0 <= c < n
                                                      for c in columns)
                    and len(set(columns)) == len(columns)):
                raise ValueError(f"the header's {where}.columns is {columns!r:.60}, not "
                                 f"distinct column numbers below {n}")
            kind = entry.get("class")
            if kind in ("passthrough", "drop") and set(entry) == {"name", "class", "columns"}:
                out.append((entry["name"], kind, columns, None, None))
                continue
            if not isinstance(kind, str) or kind not in INNER_STEPS:
                raise ValueError(f"the header's {where}.class is {kind!r:.60}; a "
                                 f"ColumnTransformer in a cnet file holds "
                                 f"{short_list(sorted(INNER_STEPS), 5)}, 'passthrough' or "
                                 f"'drop'")
            if not (isinstance(entry.get("params"), dict)
                    and set(entry["params"]) == set(INNER_STEPS[kind].params)
                    and isinstance(entry.get("fitted"), dict)):
                raise ValueError(f"the header's {where} has not a {kind}'s params and fitted")
            out.append((entry["name"], kind, columns, entry["params"],
                        StateFields(entry["fitted"], where=f"{where}.fitted")))
        return out

    def layout(self, params, fields):
        n, layout = _input_layout(fields)
        for index, (_, kind, _, inner_params, inner_fields) in enumerate(
                self._transformers(fields, n)):
            if inner_fields is not None:
                for key, spec in INNER_STEPS[kind].layout(inner_params, inner_fields).items():
                    layout[f"t{index}.{key}"] = spec
        return layout

    def restore(self, step, fields, arrays):
        from sklearn.base import clone
        _set_input(step, fields, arrays)
        n = step.n_features_in_
        jobs = step.n_jobs
        if not (jobs is None or is_int(jobs) and (jobs == -1 or 1 <= jobs <= MAX_JOBS)):
            raise ValueError(f"its n_jobs is {jobs!r:.40}, not None, -1 or 1 to {MAX_JOBS}")
        if not (isinstance(step.remainder, str) and step.remainder in ("passthrough", "drop")):
            raise ValueError(f"its remainder is {step.remainder!r:.40}, not 'passthrough' or "
                             f"'drop'")
        sparse = fields.get("sparse_output_", "bool")
        names = getattr(step, "feature_names_in_", None)
        columns_of = {}
        templates, restored, encoders = [], {}, {}
        rows, kinds = 1, {}
        for index, (name, kind, columns, params, inner_fields) in enumerate(
                self._transformers(fields, n)):
            columns_of[name] = columns
            spec = columns if names is None else [str(names[c]) for c in columns]
            if inner_fields is None:
                templates.append((name, kind, spec))
                continue
            codec = INNER_STEPS[kind]
            inner = _built(_step_class(kind), name, params, getattr(codec, "decode", None))
            prefix = f"t{index}."
            own = {key[len(prefix):]: value for key, value in arrays.items()
                   if key.startswith(prefix)}
            width = inner_fields.get("n_features_in_", "int", low=1)
            if width != len(columns):
                raise ValueError(f"its step {name!r:.{_SHOWN}} takes {width} columns, it is "
                                 f"given {len(columns)}")
            try:
                if kind == "OneHotEncoder":
                    categories = codec.categories(inner_fields, own)
                    encoders[name] = params["categories"]
                    inner.set_params(categories=[c.tolist() if c.dtype == object else c
                                                 for c in categories])
                    rows = max(rows, max(len(c) for c in categories))
                    for column, values in zip(columns, categories):
                        if column in kinds:
                            raise ValueError(f"column {column} is encoded twice")
                        kinds[column] = values
                else:
                    if codec.restore(inner, inner_fields, own) != width:
                        raise ValueError("it drops columns, which a ColumnTransformer's "
                                         "step may not in a cnet file")
                    restored[name] = inner
            except ValueError as exc:
                raise ValueError(f"its step {name!r:.{_SHOWN}} ({kind}): {exc}") from None
            templates.append((name, clone(inner), spec))
        if rows * n > MAX_REBUILD_CELLS:
            raise ValueError(f"rebuilding it takes {rows} rows of {n} columns, more than "
                             f"{MAX_REBUILD_CELLS} cells")
        step.set_params(transformers=templates)
        self._fit(step, _rows_of(kinds, rows, n, names))
        for name, given in encoders.items():
            # The categories were given to fit them as stored; the parameter is put back.
            fitted = step.named_transformers_[name]
            categories = "auto" if given == "auto" else [c.tolist() for c in fitted.categories_]
            for encoder in (fitted, dict((t[0], t[1]) for t in step.transformers)[name]):
                encoder.set_params(categories=categories)
        step.transformers_ = [(name, restored.get(name, fitted), columns)
                              for name, fitted, columns in step.transformers_]
        step.sparse_output_ = sparse
        return max([s.stop for s in step.output_indices_.values()], default=0)

    @staticmethod
    def _fit(step, rows):
        jobs = step.n_jobs
        try:
            with warnings.catch_warnings():
                # drop="first" with handle_unknown="ignore" warns at every fit.
                warnings.simplefilter("ignore")
                step.set_params(n_jobs=None)
                step.fit(rows)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"scikit-learn refuses to rebuild it: {str(exc)[:200]}") from None
        finally:
            step.set_params(n_jobs=jobs)


def _rows_of(categories, rows, n, names):
    """``rows`` rows of ``n`` columns: the categories of each encoded column, repeated to
    fill the rows, zeros elsewhere; a DataFrame of those column names if there are any."""
    columns = []
    for column in range(n):
        values = categories.get(column)
        columns.append(np.zeros(rows) if values is None else np.resize(values, rows))
    if names is not None:
        import pandas as pd
        return pd.DataFrame(dict(zip(names.tolist(), columns)), columns=names.tolist())
    if any(c.dtype == object for c in columns):
        return np.stack([c.astype(object) for c in columns], axis=1) if columns else None
    return np.stack(columns, axis=1)


STEPS = {"StandardScaler": _StandardScaler(), "MinMaxScaler": _MinMaxScaler(),
         "SimpleImputer": _SimpleImputer(), "ColumnTransformer": _ColumnTransformer()}
# What a ColumnTransformer in a file may hold.
INNER_STEPS = {"StandardScaler": STEPS["StandardScaler"], "MinMaxScaler": STEPS["MinMaxScaler"],
               "SimpleImputer": STEPS["SimpleImputer"], "OneHotEncoder": _OneHotEncoder()}


def _step_class(name):
    if name in ("StandardScaler", "MinMaxScaler", "OneHotEncoder"):
        import sklearn.preprocessing
        return getattr(sklearn.preprocessing, name)
    if name == "SimpleImputer":
        from sklearn.impute import SimpleImputer
        return SimpleImputer
    if name == "ColumnTransformer":
        from sklearn.compose import ColumnTransformer
        return ColumnTransformer
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
        # The state first: it refuses what the file cannot hold with the clearer message.
        fitted, step_arrays = codec.state(name, step)
        params = _params(name, step, codec.params, getattr(codec, "encode", None))
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
            step = _built(_step_class(kind), name, params, getattr(codec, "decode", None),
                          **getattr(codec, "fixed", {}))
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
