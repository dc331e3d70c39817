"""The training spec (cnet.spec) from the keywords the tests vary: one Network and one
Training per call, with a fresh optimizer."""
import numpy as np

from cnet import optimizer as optimizers
from cnet._layout import n_parameters
from cnet.spec import Network, Training


def specs(layers, activation, output, dtype=np.float64, *, learning_rate=0.1, solver="sgd",
          momentum=0.0, nesterov=False, beta_1=0.9, beta_2=0.999, epsilon=1e-8, schedule=None,
          power_t=0.5, batch_size, **training):
    """(Network, Training) for ``engine.train(backend, params, *specs(...), X, Y, n)``;
    ``training`` takes the rest of Training's keywords (shuffle, seed, loss_every, alpha,
    dropout, sample_weight, stopping, validation)."""
    network = Network(layers, activation, output, dtype=dtype)
    n = n_parameters(network.layers)
    if solver == "sgd":
        optimizer = optimizers.SGD(n, dtype, learning_rate, momentum=momentum,
                                   nesterov=nesterov, schedule=schedule or "constant",
                                   power_t=power_t)
    else:
        optimizer = optimizers.make(solver, n, dtype, learning_rate, beta_1=beta_1,
                                    beta_2=beta_2, epsilon=epsilon)
    return network, Training(optimizer, batch_size=batch_size, **training)
