"""``python -m cnet.bench``: the same as ``cnet bench``."""
from cnet.bench.command import main

main(prog="python -m cnet.bench")
