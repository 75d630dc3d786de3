"""Where in the flow a task was created: ``sflow.py:12``.

Recorded by ``Task.__init__`` so that an error about two tasks can name the
two lines of the flow that created them. Cheap on purpose (a flow may create
a hundred thousand tasks): a walk up ``sys._getframe`` past scriptflow's own
frames, no ``inspect.stack()`` (which reads source files).
"""
from __future__ import annotations

import os
import sys
from types import FrameType
from typing import Any, Optional

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
#: code file name -> its base name, or None for scriptflow's own (a handful of names, asked once per task)
_NAMES: dict[str, Optional[str]] = {}
_UNSEEN: Any = object()  # a file name not looked at yet


def creation_site(skip: int = 2) -> Optional[str]:
    """'file.py:LINE' of the innermost frame outside the scriptflow package, or None."""
    frame: Optional[FrameType]
    try:
        frame = sys._getframe(skip)
    except ValueError:
        return None
    while frame is not None:
        filename = frame.f_code.co_filename
        name = _NAMES.get(filename, _UNSEEN)
        if name is _UNSEEN:
            ours = os.path.abspath(filename).startswith(_PACKAGE)
            name = _NAMES[filename] = None if ours else os.path.basename(filename)
        if name is not None:
            return f"{name}:{frame.f_lineno}"
        frame = frame.f_back
    return None
