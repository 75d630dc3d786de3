"""A task's fingerprint and repeats key, spelled directly (core/tasktext.py), are the texts the
general encoder gives, character for character: a fingerprint that changed would run every
task of every project again, and a repeats key that differed from SQLite's would send every
task of a no-op down the slow path.

Pure functions on real ``TaskSpec``s, built by ``build_spec`` in a real folder; the
references below are the general spellings (``canonical_json`` of the whole value).
"""
from __future__ import annotations

import dataclasses
import itertools

import pytest

import scriptflow as sf
from scriptflow.core.fingerprint import canonical_json, json_str_list, task_fingerprint
from scriptflow.core.spec import build_spec
from scriptflow.core.tasktext import repeats_key, shell_column, spec_fingerprint
from scriptflow.executors.base import Container
from scriptflow.project import Project

SURROGATE = "bad\udcff.txt"  # a file name Python could not decode


def reference_key(spec) -> str:
    return canonical_json([shell_column(spec), spec.cwd_rel, spec.version, spec.executor,
                           canonical_json(spec.resources), spec.retry, json_str_list(spec.inputs),
                           json_str_list(spec.outputs)])


def tasks() -> list[sf.Task]:
    plain = dict(inputs="in.txt", outputs="out.txt")
    made = [
        sf.Task(["cp", "in.txt", "out.txt"], name="plain", **plain),
        sf.Task("cp in.txt out.txt", name="string", **plain),
        sf.Task("cat in.txt | tr a b > out.txt", name="syntax", **plain),
        sf.Task(["cp", "in.txt", "out.txt"], shell=True, name="shell-list", **plain),
        sf.Task(["cp", "in.txt", "out.txt"], name="no-inputs", outputs=["b.txt", "a.txt"]),
        sf.Task(["cp"], name="many", inputs=["z.txt", "a.txt", "m/n.txt"], outputs=["y", "x"]),
        sf.Task(["echo", 'quote " back \\ tab \t nl \n del \x7f ls \u2028'], name="escapes", **plain),
        sf.Task(["echo", "été", "日本"], name="unicode", **plain),
        sf.Task(["echo"], name="unicode-path", inputs="entrée.txt", outputs="sortie é.txt"),
        sf.Task(["echo", SURROGATE], name="surrogate", inputs=SURROGATE, outputs="o.txt"),
        sf.Task(["echo"], name="env", env={"B": "2", "A": "1", "é": "x"}, **plain),
        sf.Task(["echo"], name="cwd", cwd="sub", **plain),
        sf.Task(["echo"], name="cwd-unicode", cwd="dossier é", **plain),
        sf.Task(["echo"], name="retry", retry=3, **plain),
        sf.Task(["echo"], name="resources", mem="2G", cpus=2, timeout=60, **plain),
        sf.Task(["echo"], name="setup", setup=["module load x", "echo é"], **plain),
        sf.Task(["echo"], name="executor", executor="slurm", **plain),
    ]
    for version in (None, "v2", 'v"2"', "é", 3, 2.5, True, False, 0, 1, ["a", 1], {"b": 1, "a": [None]}):
        made.append(sf.Task(["echo"], name=f"version-{version!r}", version=version, **plain))
    return made


@pytest.fixture
def specs(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "dossier é").mkdir()
    folder = Project(tmp_path)
    built = [build_spec(task, folder, "local") for task in tasks()]
    container = Container(runtime="podman", image="alpine", image_id="sha256:" + "a" * 64, run_ref="sha256:" + "a" * 64)
    built.append(dataclasses.replace(built[0], uid="container", container=container))
    built.append(dataclasses.replace(built[0], uid="not-strings", command=["echo", 1, None, 2.5]))
    built.append(dataclasses.replace(built[0], uid="tuple", command=("echo", "x")))
    built.append(dataclasses.replace(built[0], uid="truthy-shell", shell=1))
    return built


INPUT_HASHES = ([], [("in.txt", "0" * 64)], [("in.txt", None)], [("z.txt", "f" * 64), ("a.txt", "1" * 64)],
                [(SURROGATE, "2" * 64)], [("entrée.txt", "3" * 64)])


def test_the_repeats_key_is_the_general_encoders_text(specs):
    for spec in specs:
        for _ in range(2):  # the second time, its head comes from what the first one kept
            assert repeats_key(spec) == reference_key(spec), spec.uid


def test_the_fingerprint_is_the_general_encoders_sha256(specs):
    for spec, inputs in itertools.product(specs, INPUT_HASHES):
        assert spec_fingerprint(spec, inputs) == task_fingerprint(spec.definition(), inputs), (spec.uid, inputs)


def test_a_plain_tasks_fingerprint_is_what_it_always_was(specs):
    """Pinned: the sha256 every earlier ledger holds for this task. Were it to change (in either
    spelling), every project's tasks would all run again."""
    plain = next(spec for spec in specs if spec.uid == "plain")
    expected = "69468e7e509277e113adcd85a3eea155598fb02c471058263b8d7fd453def3ec"
    got = spec_fingerprint(plain, [("in.txt", "0" * 64)])
    assert got == task_fingerprint(plain.definition(), [("in.txt", "0" * 64)])
    assert got == expected


def test_a_head_that_cannot_be_a_key_and_many_heads_still_give_the_general_text(tmp_path):
    folder = Project(tmp_path)
    odd = build_spec(sf.Task(["echo"], name="odd", outputs="o", version=["unhashable"]), folder, "local")
    assert repeats_key(odd) == reference_key(odd)
    for number in range(300):  # more distinct heads than are kept
        spec = build_spec(sf.Task(["echo"], name=f"v{number}", outputs="o", version=f"v{number}"), folder, "local")
        assert repeats_key(spec) == reference_key(spec)
