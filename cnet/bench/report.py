"""The per-epoch comparison table: its header, one row per workload and dtype, and why a
peer was not timed."""
from cnet.bench.timing import noisy_peers


def format_us(seconds):
    """Seconds as microseconds, to the unit from a thousand up, to a tenth below."""
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 1000 else f"{us:.1f}"


CELL = 17   # width of a peer's cell: "12,520 (5.9x)"


def _ratio(r):
    return f"{r:.2f}x" if r < 1 else f"{r:.1f}x"


def print_compare_header(peers, width=8):
    """The table's header; ``width`` is that of the workload column."""
    cols = "".join(f"{p:>{CELL}}" for p in peers[1:])
    print(f"{'workload':<{width}} {'dtype':<8}{'cnet µs':>10}{cols}   epochs per fit")
    print(f"{'':<{width}} {'':<8}{'':>10}{'µs (/cnet)':>{CELL}}")


def print_compare_row(row, peers, width=8):
    """Print one row of the comparison table, then why any peer was not timed."""
    timed, notes = row["peers"], row["not_timed"]
    # Each number cell starts with a space, so a time too wide for its column (a loaded
    # machine's) still stands apart from the next.
    cells = (f"{row['workload']:<{width}} {row['dtype']:<8}"
             f" {format_us(timed['cnet']['seconds_per_epoch']):>9}")
    for p in peers[1:]:
        if p in timed:
            text = f"{format_us(timed[p]['seconds_per_epoch'])} ({_ratio(row['ratio_to_cnet'][p])})"
        else:
            text = notes.get(p, "-")
            text = "failed" if text.startswith("failed") else text
        cells += f" {text:>{CELL - 1}}"
    epochs = "/".join(str(timed[p]["epochs"]) for p in peers if p in timed)
    noisy = noisy_peers(timed)
    print(f"{cells}   {epochs}" + (f"   noisy: {', '.join(noisy)}" if noisy else ""),
          flush=True)
    for p, note in notes.items():
        outcome = row["gate"].get(p, {})
        if note.startswith("failed"):
            print(f"    {p}: {note}")
        elif note == "gate failed":
            print(f"    {p}: gate failed, not timed: loss {outcome['loss']:.10g} against "
                  f"cnet's {outcome['reference_loss']:.10g} after {row['gate_epochs']} "
                  f"epochs from the same weights (relative difference "
                  f"{outcome['rel_diff']:.1e} > {outcome['rtol']:.0e})")
