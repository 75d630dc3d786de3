"""The child side of ``sf.call``: ``python -m scriptflow.callee FILE QUALNAME ARGS_JSON OUT``.

Imports the flow file as the module it is named after (``sflow``, its folder
first on ``sys.path``, as ``scriptflow run`` does), calls the function with
the decoded arguments and writes its JSON return value to OUT (atomically:
a crash leaves no half-written value). Any failure is one line on stderr and
exit code 1, so the task fails with the reason in its log.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        sys.stderr.write("usage: python -m scriptflow.callee FILE QUALNAME ARGS_JSON OUT\n")
        return 2
    file, qualname, payload, out = argv
    path = os.path.abspath(file)
    sys.path.insert(0, os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        sys.stderr.write(f"scriptflow: error: cannot import {file}\n")
        return 1
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part)
    decoded = json.loads(payload)
    result = target(*decoded["args"], **decoded["kwargs"])
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as exc:
        sys.stderr.write(f"scriptflow: error: {qualname} returned a value that is not JSON-serialisable: {exc}\n")
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = f"{out}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
