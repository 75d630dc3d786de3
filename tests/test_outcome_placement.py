"""Where an attempt's success is recorded, and the protected-output check's path spellings.

A local attempt that exited 0 with small files is recorded on the slot thread
that ran it; one with a big (or directory) output goes to the prepare pool.
Both must record the same things: the attempt, its exit code, the output
hashes. The protected-output check resolves each output's parent once and
the output itself only when it is a symlink; a symlink pointing at the flow
file must still be refused. Real files, real symlinks, the real command.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from conftest import Project, py_src

from scriptflow.core.attempts import INLINE_RECORD_BYTES, small_files
from scriptflow.core.fingerprint import FileHash
from scriptflow.core.protected import _spellings
from scriptflow.core.spec import TaskSpec


class _Files:
    """The two fields of a ``TaskSpec`` that ``small_files`` reads."""

    def __init__(self, inputs: dict[str, str], outputs: dict[str, str]) -> None:
        self.input_abs, self.output_abs = inputs, outputs


def _spec(inputs: dict[str, str], outputs: dict[str, str]) -> TaskSpec:
    return _Files(inputs, outputs)  # type: ignore[return-value]


def test_small_files_counts_inputs_and_outputs_and_refuses_directories(tmp_path: Path) -> None:
    small, big, folder = tmp_path / "small", tmp_path / "big", tmp_path / "folder"
    small.write_bytes(b"x" * 10)
    big.write_bytes(b"x" * (INLINE_RECORD_BYTES + 1))
    folder.mkdir()
    assert small_files(_spec({"small": str(small)}, {"missing": str(tmp_path / "missing")}))
    assert not small_files(_spec({"small": str(small)}, {"big": str(big)}))
    assert not small_files(_spec({"big": str(big)}, {}))
    assert not small_files(_spec({}, {"folder": str(folder)}))


def test_small_files_takes_a_decided_input_at_its_hashed_size(tmp_path: Path) -> None:
    """An input hashed when the task was decided counts with that size, unread: the file here
    does not even exist, and only the recorded sizes decide."""
    gone = str(tmp_path / "gone")
    assert small_files(_spec({"in": gone}, {}), {"in": FileHash("ab", 10)})
    assert not small_files(_spec({"in": gone}, {}), {"in": FileHash("ab", INLINE_RECORD_BYTES + 1)})
    assert not small_files(_spec({"in": gone}, {}), {"in": FileHash("dir:ab", 0)})
    assert small_files(_spec({"in": gone}, {}), {"in": None})
    big = tmp_path / "big"
    big.write_bytes(b"x" * (INLINE_RECORD_BYTES + 1))
    assert not small_files(_spec({"in": str(big)}, {}), {})  # not hashed: its size is read


def test_big_and_small_outputs_record_the_same_things(project: Project) -> None:
    size = INLINE_RECORD_BYTES + 4096
    write = "import sys; open(sys.argv[1], 'wb').write(b'y' * int(sys.argv[2]))"
    project.flow(f"""
        import sys
        def flow_main():
            sf.bag(sf.Task([sys.executable, "-c", {write!r}, "big.bin", "{size}"], outputs="big.bin", name="big").start(),
                   sf.Task([sys.executable, "-c", {write!r}, "small.bin", "3"], outputs="small.bin", name="small").start())
    """)
    project.run("run", "main")
    rows = project.query(
        "SELECT t.uid, t.status, a.status AS attempt, a.exit_code, f.sha256, f.size, f.producer_attempt_id = a.id AS own "
        "FROM tasks t JOIN attempts a ON a.task_id = t.id JOIN files f ON f.task_id = t.id AND f.role = 'output' "
        "ORDER BY t.uid")
    assert [tuple(r) for r in rows] == [
        ("big", "succeeded", "succeeded", 0, hashlib.sha256(b"y" * size).hexdigest(), size, 1),
        ("small", "succeeded", "succeeded", 0, hashlib.sha256(b"yyy").hexdigest(), 3, 1),
    ]


def test_spellings_resolve_a_symlinked_last_component(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    (real / "link.txt").symlink_to(real / "target.txt")
    plain = _spellings(str(tmp_path / "alias" / "out.txt"))
    assert plain == {str(tmp_path / "alias" / "out.txt"), str(real / "out.txt")}
    linked = _spellings(str(tmp_path / "alias" / "link.txt"))
    assert str(real / "target.txt") in linked and str(real / "link.txt") in linked
    assert _spellings(str(tmp_path)) >= {str(tmp_path), os.path.realpath(tmp_path)}


def test_output_symlinked_to_the_flow_file_is_refused(project: Project) -> None:
    os.symlink("sflow.py", project.path / "link.txt")
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("raise SystemExit(1)")}, outputs="link.txt", name="bad").result()
    """)
    flow_before = project.read("sflow.py")
    proc = project.run("run", "main", check=False)
    assert "the flow file" in proc.stderr, proc.stderr
    assert project.read("sflow.py") == flow_before
