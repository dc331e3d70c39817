"""Which peers run on a workload: built, or a note saying why not (n/a, not installed, failed)."""
from cnet.bench import gate, jax_peer, numba_peer
from cnet.bench.peers import (cnet_mlp_peer, failure, neural_net_peer, sklearn_peer, torch,
                              torch_peer)

# Every peer --peers may name; the jax and numba modules each offer a few forms.
PEERS = ("cnet", "numpy", "sklearn", "torch") + jax_peer.FORMS + numba_peer.FORMS


def build_peers(wl, X, chosen=PEERS):
    """The peers that run on ``wl``, and a note for each that does not.

    Parameters
    ----------
    wl : Workload
    X : ndarray
        ``wl.X`` in the training dtype.
    chosen : sequence of str
        The peers asked for (``--peers``); cnet always runs, as everything is relative to it.

    Returns
    -------
    start : tuple of (list of ndarray, list of ndarray)
        The initial weights and biases cnet's fit starts from.
    peers : dict of str to Peer
    notes : dict of str to str
        For the peers not built: ``"n/a"`` (not made for this workload), ``"not installed"``,
        or ``"failed: <reason>"``.
    """
    start = (gate.glorot_uniform_weights if wl.multiclass else gate.he_normal_weights)(
        wl.layers, X.dtype)
    cnet_peer = cnet_mlp_peer if wl.multiclass else neural_net_peer
    builders = {"cnet": lambda: {"cnet": cnet_peer(wl, X, "cython")},
                "numpy": lambda: {"numpy": cnet_peer(wl, X, "numpy")},
                "sklearn": lambda: {"sklearn": sklearn_peer(wl, X)},
                "torch": lambda: {"torch": torch_peer(wl, X)},
                "jax": lambda: jax_peer.jax_peers(wl, X, start),
                "numba": lambda: numba_peer.numba_peers(wl, X, start)}
    installed = {"torch": torch is not None, "jax": jax_peer.version() is not None,
                 "numba": numba_peer.version() is not None}
    names = {"cnet": ("cnet",), "numpy": ("numpy",), "sklearn": ("sklearn",),
             "torch": ("torch",), "jax": jax_peer.FORMS, "numba": numba_peer.FORMS}
    peers, notes = {}, {}
    for family, build in builders.items():
        wanted = [p for p in names[family] if p == "cnet" or p in chosen]
        if not wanted:
            continue
        if family == "numba" and not wl.numba:
            notes.update(dict.fromkeys(wanted, "n/a"))
        elif not installed.get(family, True):
            notes.update(dict.fromkeys(wanted, "not installed"))
        else:
            try:
                built = build()
            except Exception as exc:   # a peer that cannot be set up is a result, too
                notes.update(dict.fromkeys(wanted, failure(exc)))
                continue
            peers.update((p, built[p]) for p in wanted if p in built)
            notes.update((p, "n/a") for p in wanted if p not in built)
    return start, peers, notes
