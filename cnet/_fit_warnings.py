"""The warning both front ends give when training stops before the epochs asked for.

It lives below ``NeuralNet`` and the MLPs so that neither front end imports the other. Each
warning names the user's line, however many cnet frames lie between it and the warning.
"""
import warnings

from cnet import engine
from cnet._caller import stacklevel


def warn_if_stopped(result, asked, epochs_trained, learning_rate):
    """Say why training stopped early, if it did; the parameters are the last whole epoch's.

    Parameters
    ----------
    result : cnet.engine.TrainResult
        The outcome of the last call to the engine.
    asked : int
        Epochs the fit was asked for.
    epochs_trained : int
        Whole epochs the model has now trained.
    learning_rate : float
        The rate in force, named in the divergence warning.
    """
    if result.interrupted:
        warnings.warn(f"Training interrupted by user after {epochs_trained} whole epochs; "
                      f"the model keeps their parameters.", engine.InterruptedWarning,
                      stacklevel=stacklevel())
    elif result.epochs_done < asked:
        warnings.warn(
            f"Training diverged at epoch {epochs_trained + 1}: the parameters became NaN or "
            f"infinite (learning rate {learning_rate} may be too large, or the data need "
            f"scaling). Stopped; the model keeps the parameters of epoch {epochs_trained}.",
            engine.DivergenceWarning, stacklevel=stacklevel())


def warn_lbfgs_interrupted(iterations):
    """Say that Ctrl-C stopped an L-BFGS fit, which keeps the best point evaluated so far.

    Parameters
    ----------
    iterations : int
        Whole L-BFGS iterations done before the interrupt.
    """
    warnings.warn(f"Training interrupted by user after {iterations} L-BFGS iterations; the "
                  f"model keeps the best parameters evaluated so far.",
                  engine.InterruptedWarning, stacklevel=stacklevel())
