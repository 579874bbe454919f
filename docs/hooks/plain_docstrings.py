"""Griffe extension: render the package's docstrings as the plain text they are written as.

The docstrings state shapes and indexing in plain text (`scores [K, N]`, `observed[name] [K', P, ...]`,
`<MNIST|FashionMNIST|KMNIST>/raw`); read as Markdown, `[a] [b]` is a reference link (which autorefs then reports
as a broken cross-reference) and `<run id>` an HTML tag that vanishes. Outside inline code the brackets are escaped
so they show as written.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_CODE_OR_TEXT = re.compile(r"(`+)(.+?)\1|([^`]+|`)", re.DOTALL)


def escape_plain(text: str) -> str:
    """`text` with `[`, `]` and `<` escaped everywhere but inside backtick code spans."""
    pieces = []
    for match in _CODE_OR_TEXT.finditer(text):
        if match.group(3) is None:
            pieces.append(match.group(0))
        else:
            pieces.append(match.group(3).replace("[", "\\[").replace("]", "\\]").replace("<", "&lt;"))
    return "".join(pieces)


class PlainDocstrings(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = escape_plain(obj.docstring.value)
