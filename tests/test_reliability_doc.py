"""docs/reliability.md names, for every fault, the test that proves the guarantee: each must exist."""
from __future__ import annotations

import re

from conftest import REPO

DOC = REPO / "docs" / "reliability.md"


def test_every_test_named_in_reliability_md_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(named) >= 50, "docs/reliability.md should name the test of each fault"
    missing = [f"{path}::{name}" for path, name in named
               if not (REPO / path).exists()
               or not re.search(rf"^\s*(async\s+)?def {name}\(", (REPO / path).read_text(encoding="utf-8"), re.M)]
    assert not missing, "docs/reliability.md names tests that do not exist:\n" + "\n".join(missing)
