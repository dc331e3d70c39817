"""Reading a user's CSV table for the command line: pandas, with the checks a file needs.

Each problem is a ``TableError`` naming the file and, where it has one, the line and column,
so the command line can print it as one line. Rows keep their line in the file as their
index: every later message (a missing value, text in a number column) can point at it.
"""
import csv
import io
import re

import numpy as np

# Longest cell accepted, in characters: Python's csv module has the same default limit. A
# table of numbers and labels has nothing near it; a larger cell is a wrong file (or a wrong
# separator) and would only cost memory.
MAX_CELL = 131_072
# How much of the file the separator is guessed from.
SNIFF_BYTES = 65_536
SEPARATORS = ",;\t|"

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


class TableError(ValueError):
    """A problem with the input table, said in one line."""


def _pandas():
    try:
        import pandas
    except ImportError:
        raise TableError('reading CSV files needs pandas: pip install pandas') \
            from None
    return pandas


def _first_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read(SNIFF_BYTES)
    except OSError as exc:
        raise TableError(f"cannot read {path}: {exc.strerror}") from None


def _bad_utf8_line(path):
    """The first line of ``path`` that is not UTF-8, and the offending byte."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, line[exc.start]
    return None, None


def _not_utf8(path):
    number, byte = _bad_utf8_line(path)
    where = f", line {number}" if number else ""
    found = f" (byte 0x{byte:02x})" if byte is not None else ""
    return TableError(f"{path}{where}: not UTF-8 text{found}; save the file as UTF-8")


def _header_and_separator(path, sep):
    """The raw header (before pandas renames duplicates) and the separator to use."""
    head = _first_bytes(path)
    text = head.decode("utf-8-sig", errors="replace")
    if len(head) == SNIFF_BYTES and "\n" in text:
        text = text[:text.rindex("\n")]    # a cut last line would mislead the sniffer
    if not text.strip():
        raise TableError(f"{path} is empty: it needs a header line and rows of data")
    if sep is None:
        try:
            sep = csv.Sniffer().sniff(text, delimiters=SEPARATORS).delimiter
        except csv.Error:
            sep = ","     # one column, or nothing to tell the separators apart
    elif sep in ("\\t", "tab"):
        sep = "\t"       # what a shell passes for --sep '\t'
    if len(sep) != 1:
        raise TableError(f"--sep must be one character, got {sep!r}")
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=sep))
    except csv.Error as exc:
        raise TableError(f"{path}, line 1: {exc}") from None
    except StopIteration:
        header = []
    return header, sep


def read_table(path, sep=None, text=()):
    """Read a CSV file into a DataFrame indexed by each row's line in the file.

    Parameters
    ----------
    path : str
        The file: UTF-8, with or without a byte-order mark, with a header line.
    sep : str, optional
        The one-character separator; guessed from the first 64 KiB when omitted.
    text : sequence of str
        Columns read as text whatever they hold (the label column: "007" stays "007").

    Returns
    -------
    pandas.DataFrame
        Blank lines are skipped; missing cells are NaN (pandas' usual markers: empty, NA,
        NaN, null, ...).

    Raises
    ------
    TableError
        Not readable, not UTF-8, empty, duplicated column names, a row with more fields
        than the header, a cell longer than ``MAX_CELL`` characters.
    """
    pd = _pandas()
    header, sep = _header_and_separator(path, sep)
    seen = set()
    for name in header:
        if name in seen:
            raise TableError(f"{path}: the column name {name!r} appears twice in the header; "
                             f"rename one")
        seen.add(name)
    try:
        frame = pd.read_csv(path, sep=sep, encoding="utf-8-sig", skip_blank_lines=False,
                            dtype={name: str for name in text if name in seen},
                            low_memory=False)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except pd.errors.EmptyDataError:
        raise TableError(f"{path} is empty: it needs a header line and rows of data") \
            from None
    except pd.errors.ParserError as exc:
        detail = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise TableError(f"{path}: {detail}") from None
    except (OSError, MemoryError) as exc:
        raise TableError(f"cannot read {path}: {exc}") from None
    # The header seen above may be cut at SNIFF_BYTES: the names pandas read are whole.
    for name in frame.columns:
        if len(str(name)) > MAX_CELL:
            raise TableError(f"{path}, line 1: a column name longer than {MAX_CELL} "
                             f"characters")
    # Line 1 is the header; with blank lines kept as rows, row i is line i + 2. (A quoted
    # cell spanning lines would shift the count; such tables are rare for numbers.)
    frame.index = np.arange(2, len(frame) + 2)
    frame = frame.dropna(how="all")
    if frame.empty:
        raise TableError(f"{path} has a header but no rows of data")
    for name in frame.columns:
        column = frame[name]
        if not _is_numeric(column):
            lengths = column.dropna().astype(str).str.len()
            if len(lengths) and lengths.max() > MAX_CELL:
                line = lengths.idxmax()
                raise TableError(f"{path}, line {line}, column {name!r}: a cell of "
                                 f"{lengths.max()} characters (the limit is {MAX_CELL}); is "
                                 f"the separator right?")
    return frame


def _is_numeric(column):
    from pandas.api.types import is_bool_dtype, is_numeric_dtype
    return is_numeric_dtype(column) or is_bool_dtype(column)


def require_columns(path, frame, names, what):
    """Refuse names missing from the table, listing the table's columns."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise TableError(f"{path} has no column(s) {', '.join(map(repr, missing))} ({what}); "
                         f"its columns are {', '.join(map(str, frame.columns))}")


def first_missing(frame):
    """``(line, column)`` of the first missing cell of ``frame``, or None."""
    missing = frame.isna().to_numpy()
    if not missing.any():
        return None
    row, col = np.argwhere(missing)[0]
    return frame.index[row], frame.columns[col]


def text_columns(frame):
    """The columns of ``frame`` that hold text (pandas could not read them as numbers)."""
    return [name for name in frame.columns if not _is_numeric(frame[name])]


def first_text_cell(frame, name):
    """``(line, value)`` of the first cell of column ``name`` that is not a number."""
    pd = _pandas()
    column = frame[name]
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna() & column.notna()
    line = bad.idxmax()
    return line, column[line]


def check_finite(path, frame):
    """Refuse infinite numbers ("inf" in a cell): no policy can make them a feature."""
    numeric = frame.select_dtypes("number")
    if numeric.empty:
        return
    infinite = np.isinf(numeric.to_numpy(dtype=float))
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise TableError(f"{path}, line {numeric.index[row]}, column {numeric.columns[col]!r}: "
                         f"{numeric.iat[row, col]} is not a finite number")


def labels(path, column):
    """The label column as it was written: integers, numbers or strings.

    Parameters
    ----------
    path : str
        The file, for messages.
    column : pandas.Series
        Read as text (``read_table``'s ``text``), with no missing cells.

    Returns
    -------
    numpy.ndarray
        int64 when every cell is a whole number written as Python writes it ("0", "1", "-3"),
        the strings when some are written otherwise ("01", "+1": codes), float64 when every
        cell is a number, else the strings.

    Raises
    ------
    TableError
        A number cell that is infinite or NaN ("inf", "nan").
    """
    pd = _pandas()
    values = column.astype(str)
    if values.map(lambda v: _INTEGER.fullmatch(v) is not None).all():
        # Integers written the one way Python writes them back stay integers; codes such as
        # "01" and "1" stay strings, else they would merge into one class and print as
        # neither.
        if not values.map(lambda v: str(int(v)) == v).all():
            return values.to_numpy(dtype=str)
        as_int = [int(v) for v in values]
        if all(-2**63 <= v < 2**63 for v in as_int):
            return np.array(as_int, dtype=np.int64)
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        finite = np.isfinite(numbers.to_numpy(dtype=float))
        if not finite.all():
            line = column.index[np.argmin(finite)]
            raise TableError(f"{path}, line {line}, column {column.name!r}: the label "
                             f"{column[line]!r} is not a finite number")
        return numbers.to_numpy(dtype=float)
    return values.to_numpy(dtype=str)
