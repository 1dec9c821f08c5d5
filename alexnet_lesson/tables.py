"""Tables of facts that the lessons read: CSV files shipped with the package (``tables/``).

Each table holds facts with a ``source`` column (the paper's section, table or figure, or a public
reference) and is read by the lesson that teaches it, so that the prose and the verdicts live in the
notebook and the facts live in one file that a teacher can read, edit and cite. Shipped inside the
wheel, so a Colab notebook that installed the package has them too.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["names", "read", "footnoted"]


def names() -> list[str]:
    """The tables shipped with the package, by name (the CSV file's stem).

    Example:
        >>> all(isinstance(n, str) for n in names())
        True
    """
    folder = resources.files("alexnet_lesson") / "tables"
    return sorted(p.name[: -len(".csv")] for p in folder.iterdir() if p.name.endswith(".csv"))


def read(name: str) -> pd.DataFrame:
    """The table ``name`` (``tables/<name>.csv``) as a DataFrame (empty cells stay empty strings).

    Example:
        >>> read("no such table")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: no table 'no such table'; the tables are: ...
    """
    path = resources.files("alexnet_lesson") / "tables" / f"{name}.csv"
    if not path.is_file():
        raise ValueError(f"no table {name!r}; the tables are: {', '.join(names()) or 'none'}")
    with path.open(encoding="utf-8") as handle:
        return pd.read_csv(handle, keep_default_na=False)


def footnoted(table: pd.DataFrame, column: str = "source") -> tuple[pd.DataFrame, str]:
    """``table`` with ``column`` replaced by footnote numbers, and the footnotes as Markdown, so
    that a table of facts stays narrow enough for a projector and every row keeps its source.
    Rows with the same source share a number.

    Example:
        >>> t = pd.DataFrame({"fact": ["a", "b", "c"], "source": ["paper §3", "paper §4", "paper §3"]})
        >>> narrow, notes = footnoted(t)
        >>> narrow["note"].tolist(), notes.splitlines()
        (['[1]', '[2]', '[1]'], ['[1] paper §3  ', '[2] paper §4'])
    """
    numbers: dict[str, int] = {}
    for source in table[column]:
        numbers.setdefault(source, len(numbers) + 1)
    narrow = table.drop(columns=column).assign(note=[f"[{numbers[s]}]" for s in table[column]])
    notes = "  \n".join(f"[{n}] {source}" for source, n in numbers.items())  # Markdown line breaks
    return narrow, notes
