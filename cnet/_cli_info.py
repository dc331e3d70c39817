"""``cnet info``: what a model file holds, read back as the library sees it."""
from cnet._cli_predict import load_model


def add_arguments(parser):
    """The arguments of ``cnet info``."""
    parser.add_argument("model", help="a model file written by cnet train or cnet.save")


def _file_facts(path):
    """The file's format version and the metadata ``cnet train`` stored, without building the
    model again; empty where this cnet's persistence cannot say."""
    from cnet import persistence
    read_info = getattr(persistence, "read_info", None)
    if read_info is None:
        return {}
    try:
        info = read_info(path)
    except (ValueError, OSError):
        return {}      # load() has accepted the file: the model's lines are shown anyway
    return info if isinstance(info, dict) else {}


def _short(names, limit=20):
    names = [str(n) for n in names]
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def describe(model, path):
    """The lines ``cnet info`` prints for ``model``, loaded from ``path``."""
    from cnet import _cpu
    facts = _file_facts(path)
    metadata = facts.get("metadata") or getattr(model, "cnet_metadata_", None) or {}
    steps = getattr(model, "steps", None)
    net = steps[-1][1] if steps else model
    lines = [f"file: {path}" + (f" (cnet model format version {facts['format_version']})"
                                if "format_version" in facts else "")]
    if steps:
        lines.append("kind: Pipeline: " + " -> ".join(f"{name} ({type(step).__name__})"
                                                      for name, step in steps))
    else:
        lines.append(f"kind: {type(net).__name__}")
    layers = [int(u) for u in getattr(net, "_layers", getattr(net, "layers", []))]
    activation = getattr(net, "activation", None)
    output = getattr(net, "out_activation_", None)
    lines.append(f"layers: {' -> '.join(map(str, layers))}"
                 + (f" ({activation} hidden" if activation else "")
                 + (f", {output} output)" if output else ")" if activation else ""))
    classes = getattr(net, "classes_", None)
    if classes is not None:
        lines.append(f"classes: {_short(c.item() if hasattr(c, 'item') else c for c in classes)}")
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = getattr(net, "feature_names_", None)
    if names is not None:
        lines.append(f"features ({len(names)}): {_short(names)}")
    else:
        lines.append(f"features: {net.n_features_in_} (no column names stored)")
    curve = getattr(net, "loss_curve_", None)
    loss = curve[-1] if curve else getattr(net, "loss_", None)
    if isinstance(loss, list):
        loss = loss[-1] if loss else None
    if loss is not None:
        epochs = getattr(net, "n_iter_", None)
        lines.append(f"training loss: {loss:.6g}"
                     + (f" after {epochs} epochs" if epochs is not None else ""))
    score = metadata.get("held_out_score")
    if score is not None:
        # cnet.save takes any JSON metadata: a file not written by cnet train may hold
        # anything under these names.
        shown = (f"{score:.4f}" if isinstance(score, (int, float)) and not isinstance(score, bool)
                 else f"{score!s}")
        lines.append(f"held-out {metadata.get('score_name', 'score')!s}: "
                     f"{shown} on {metadata.get('held_out_rows')!s} "
                     f"rows (--test-size {metadata.get('test_size')!s}, --seed "
                     f"{metadata.get('seed')!s})")
    elif metadata.get("command") == "cnet train":
        lines.append("held-out score: none (trained with --test-size 0)")
    if "training_rows" in metadata:
        refit = "refit on all rows" if metadata.get("refit_on_all_rows") else \
            "kept from the training split, not refit on all rows"
        lines.append(f"trained by cnet train on {metadata.get('data')!s}, target "
                     f"{metadata.get('target')!r}, {metadata['training_rows']!s} training rows; "
                     f"{refit}")
    lines.append(f"CPU build in use: {_cpu.active()}")
    return lines


def info(args):
    """``cnet info``: print what the model file holds."""
    model = load_model(args.model)
    print("\n".join(describe(model, args.model)))
