"""Prediction's fast path (an array already valid skips validation and repacking) gives the
validated path's answers, and every bad input still gets its error."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import cnet


@pytest.fixture(scope="module")
def digits_model():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = cnet.MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0)
        return model.fit(X, y), X, y


def test_fast_path_equals_the_validated_path(digits_model):
    model, X, _ = digits_model
    fast = np.ascontiguousarray(X[:50])
    slow = np.asfortranarray(X[:50])           # not C-contiguous: validated and copied
    assert np.array_equal(model.predict_proba(fast), model.predict_proba(slow))
    assert np.array_equal(model.predict_proba(fast), model.predict_proba(fast.tolist()))
    assert np.array_equal(model.predict(fast), model.predict(slow))
    # Decoding is the label binarizer's: argmax for several classes, > 0.5 for two.
    assert np.array_equal(model.predict(fast),
                          model._label_binarizer.inverse_transform(model.predict_proba(fast)))


def test_binary_and_multilabel_decoding_matches_the_label_binarizer():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    for y in [np.where(X[:, 0] > 0, "yes", "no"),
              np.stack([X[:, 0] > 0, X[:, 1] > 0], axis=1).astype(int)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = cnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=20,
                                       random_state=0).fit(X, y)
        out = model._outputs(X)
        expected = model._label_binarizer.inverse_transform(out.ravel() if out.shape[1] == 1
                                                            else out)
        assert np.array_equal(model.predict(X), expected)


@pytest.mark.parametrize("bad,error,match", [
    (np.full((1, 64), np.nan), ValueError, "NaN"),
    (np.full((1, 64), np.inf), ValueError, "infinity"),
    (np.zeros((1, 63)), ValueError, "63 features"),
    (np.zeros((0, 64)), ValueError, "0 sample"),
    (np.zeros(64), ValueError, "2D array"),
    (np.full((1, 64), "a"), ValueError, "could not convert"),
])
def test_bad_input_still_gets_its_error(digits_model, bad, error, match):
    model, _, _ = digits_model
    with pytest.raises(error, match=match):
        model.predict_proba(bad)


def test_predictions_follow_coefficients_changed_in_place_or_assigned(digits_model):
    model, X, _ = digits_model
    model = pickle.loads(pickle.dumps(model))      # a copy this test may change
    x = np.ascontiguousarray(X[:5])
    before = model.predict_proba(x)
    model.coefs_[1][...] *= -1                      # in place, through the exposed views
    flipped = model.predict_proba(x)
    assert not np.allclose(before, flipped)
    model.coefs_[1] = -model.coefs_[1]              # a new array assigned into the list
    assert np.allclose(model.predict_proba(x), before)
    model.coefs_ = [W.copy() for W in model.coefs_]    # a new list
    model.coefs_[1][...] *= -1
    assert np.allclose(model.predict_proba(x), flipped)


def test_an_unpickled_model_follows_in_place_changes(digits_model):
    model, X, _ = digits_model
    restored = pickle.loads(pickle.dumps(model))
    x = np.ascontiguousarray(X[:5])
    assert np.array_equal(restored.predict_proba(x), model.predict_proba(x))
    restored.intercepts_[1][0] += 100.0            # class 0's logit: softmax changes
    assert not np.allclose(restored.predict_proba(x), model.predict_proba(x))


def test_feature_names_are_still_checked():
    pd = pytest.importorskip("pandas")   # the test extra installs it
    X = pd.DataFrame(np.random.default_rng(0).standard_normal((30, 3)), columns=list("abc"))
    y = (X["a"] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = cnet.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5).fit(X, y)
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(np.ascontiguousarray(X.to_numpy()))


@pytest.mark.usefixtures("cpu_variant")
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layers,activation,output", [
    ([64, 128, 10], "relu", "softmax"), ([3, 1], "tanh", "logistic"),
    ([5, 7, 6, 2], "sigmoid", "identity"), ([4, 9, 3], "leaky_relu", "exp")])
def test_few_sample_forward_equals_the_twin(layers, activation, output, dtype, n):
    # Fewer than 4 samples go one at a time through a path of their own (cnet._train).
    from cnet import engine
    from cnet._layout import n_parameters
    from cnet.spec import Network
    rng = np.random.default_rng(n)
    layers = np.array(layers, np.intp)
    params = (rng.standard_normal(n_parameters(layers)) * 0.3).astype(dtype)
    X = rng.standard_normal((n, layers[0])).astype(dtype)
    network = Network(layers, activation, output, dtype=dtype)
    got = engine.predict("cython", params, network, X)
    expected = engine.predict("numpy", params, network, X)
    np.testing.assert_allclose(got, expected, rtol=1e-12 if dtype == np.float64 else 2e-5,
                               atol=1e-12 if dtype == np.float64 else 1e-5)


def test_weights_set_by_hand_without_n_features_in_still_predict(digits_model):
    # A model assembled from coefs_/intercepts_ (as scikit-learn's tests do) has no
    # n_features_in_: validation then skips the width check, and so must the fast path.
    model, X, _ = digits_model
    model = pickle.loads(pickle.dumps(model))
    del model.n_features_in_
    x = np.ascontiguousarray(X[:3])
    assert np.array_equal(model.predict_proba(x), model.predict_proba(x.tolist()))
