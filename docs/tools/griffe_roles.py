"""A griffe extension for the API reference: the reST the docstrings write, as the Markdown mkdocstrings renders.
Roles (:func:`undo`, :class:`Classifier`) become inline code, as ``code`` already is; a literal block's ``::``
becomes ``:`` (its indented lines are a code block in Markdown too)."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):`~?([^`]+)`")
LITERAL_BLOCK = re.compile(r"(?<=\w)::$", flags=re.M)


class ReSTRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = LITERAL_BLOCK.sub(":", ROLE.sub(r"`\1`", obj.docstring.value))
