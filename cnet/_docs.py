"""The README's tables of what a network is built from, printed from :mod:`cnet.registry`.

``python -m cnet._docs`` prints them and ``python -m cnet._docs --write README.md`` puts them
in place of the README's; ``tests/test_registry.py`` holds README.md to hold exactly this text,
so a new registry entry shows in the docs once the README is refreshed.
"""
import sys
from pathlib import Path

from cnet import registry


def _code(text):
    return f"`{text}`" if text else ""


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def activations_table():
    """The hidden activations: names, aliases, the function, its derivative and what the
    backward pass computes it from."""
    return _table(
        ["activation", "also accepted", "a = f(z)", "f'(z)", "backward reads"],
        [[_code(e.name), ", ".join(_code(a) for a in e.aliases), _code(e.formula),
          _code(e.derivative), "input z" if e.backward_reads == "input" else "output a"]
         for e in registry.ACTIVATIONS.values()])


def outputs_table():
    """The output layers, each with the loss it is trained with."""
    return _table(
        ["output (`out_activation_`)", "loss", "task", "what", "parameter"],
        [[_code(e.output_activation), _code(e.loss), e.task, e.formula, _code(e.parameter)]
         for e in registry.OUTPUT_LOSSES.values()])


def optimizers_table():
    """The stochastic optimizers (``solver=``)."""
    return _table(["solver", "what"],
                  [[_code(e.name), e.formula] for e in registry.OPTIMIZERS.values()])


def markdown_tables():
    """The three tables in Markdown, as README.md holds them."""
    return "\n\n".join([activations_table(), outputs_table(), optimizers_table()]) + "\n"


def write_tables(path):
    """Replace the tables in the Markdown file ``path`` (from the activations table's header
    to the end of the optimizers table) with today's."""
    text = Path(path).read_text(encoding="utf-8")
    start = text.index("| activation | also accepted |")
    end = text.index("\n\n", text.index("| solver | what |")) + 1
    Path(path).write_text(text[:start] + markdown_tables() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        write_tables(sys.argv[2])
    else:
        print(markdown_tables(), end="")
