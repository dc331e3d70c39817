"""cnet's MLPClassifier and MLPRegressor pass scikit-learn's estimator checks."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from cnet import MLPClassifier, MLPRegressor

# Small networks and few epochs keep the ~100 checks fast; the checks test the interface,
# not accuracy (which test_mlp.py compares with scikit-learn's own MLP).
ESTIMATORS = [MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, learning_rate_init=0.01,
                            random_state=0),
              MLPRegressor(hidden_layer_sizes=(16,), max_iter=200, learning_rate_init=0.01,
                           random_state=0),
              MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=100,
                            random_state=0),
              MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=100,
                           random_state=0)]


# No check is skipped or expected to fail here. scikit-learn itself skips a few checks when
# their requirements are missing: the array-API checks (SCIPY_ARRAY_API unset; they need
# array-API libraries cnet does not support) and, for MLPClassifier, the decision_function
# check (it has none, like scikit-learn's MLP). The test extra installs pandas, so the pandas
# checks run.
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
