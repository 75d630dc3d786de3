"""File names from task uids (``scriptflow.names``): readable for ordinary uids, one-to-one for all."""
from __future__ import annotations

import hashlib
import re

from scriptflow.names import file_stem, safe_text

SAFE = re.compile(r"[A-Za-z0-9._+-]+")


def test_ordinary_uids_are_their_own_stem() -> None:
    for uid in ("solve-1", "final", "a_b", "fit.2024", "A-Z_0.9"):
        assert file_stem(uid) == uid


def test_uids_that_sanitise_alike_get_distinct_safe_stems() -> None:
    uids = ["a/b", "a_b", "a b", "a\\b", "a:b", "a//b", "a_b+deadbeef", "é", "_", "", ".", "..", ".hidden",
            "CON", "con.1", "nul", "x" * 300, "x" * 301, "a\nb", "a\x00b"]
    stems = [file_stem(uid) for uid in uids]
    assert len(set(stems)) == len(uids), dict(zip(uids, stems))
    for uid, stem in zip(uids, stems):
        assert SAFE.fullmatch(stem), (uid, stem)
        assert not stem.startswith("."), (uid, stem)
        assert len(stem) <= 120, (uid, len(stem))
        assert stem.split(".")[0].upper() not in ("CON", "NUL"), (uid, stem)


def test_a_stem_is_stable_across_processes() -> None:
    """Re-attaching to a job after a crash finds its script by recomputing the name."""
    assert file_stem("a/b") == "a_b+" + hashlib.sha256(b"a/b").hexdigest()[:8]


def test_safe_text_is_readable_for_job_names() -> None:
    assert safe_text("solve 1") == "solve_1"
    assert safe_text("a//b c") == "a_b_c"
