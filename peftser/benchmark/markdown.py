"""Text from grids and records (grid names, variants, deviation texts) made safe inside markdown:
one table cell, one list item or one heading, however it was written.

Only what breaks the structure is escaped: a line break would end a row or an item (and a following
``---`` turn the line above into a heading), a ``|`` would split a cell, an HTML tag would be
rendered, and at a line's start a leading ``-``, ``#``, ``=``, ``+`` or ``>`` would start a block. Other punctuation
(``demo_*``) stays as written, so text without these characters is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tabulate import tabulate

_LINE_BREAKS = re.compile(r"\s*(?:\r\n|\r|\n)\s*")
_BLOCK_START = "-#=+>"


def escape(text: object, *, line_start: bool = False) -> str:
    """``text`` as inline markdown that cannot break the table, list item or heading it is put in;
    ``line_start`` when it begins a line's text (a list item's), where a leading ``-`` or ``#`` counts."""
    out = _LINE_BREAKS.sub(" ", str(text)).replace("|", "\\|").replace("<", "&lt;")
    return "\\" + out if line_start and out[:1] in _BLOCK_START and out else out


def table(headers: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table of ``rows`` under ``headers``, every cell escaped."""
    return tabulate([[escape(c) for c in row] for row in rows], headers=[escape(h) for h in headers],
                    tablefmt="github", disable_numparse=True)
