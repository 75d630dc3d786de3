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
from typing import Optional

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
#: code file name -> whether it is one of scriptflow's own (a handful of names, asked once per task)
_OURS: dict[str, bool] = {}


def creation_site(skip: int = 2) -> Optional[str]:
    """'file.py:LINE' of the innermost frame outside the scriptflow package, or None."""
    frame: Optional[FrameType]
    try:
        frame = sys._getframe(skip)
    except ValueError:
        return None
    while frame is not None:
        filename = frame.f_code.co_filename
        ours = _OURS.get(filename)
        if ours is None:
            ours = _OURS[filename] = os.path.abspath(filename).startswith(_PACKAGE)
        if not ours:
            return f"{os.path.basename(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return None
