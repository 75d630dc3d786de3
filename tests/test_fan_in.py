"""Fan-in: one task consuming many tasks' outputs (linear bookkeeping; benchmarks/fanin.py times it)."""
from __future__ import annotations

from conftest import py_src


def test_a_task_with_20000_task_inputs_starts_and_is_decided(project):
    # --dry-run: the engine's bookkeeping for every task, no 20,001 processes.
    project.flow("""
        def flow_main():
            producers = [sf.Task(["true"], outputs=f"p{i}.txt", name=f"p{i}", quiet=True) for i in range(20000)]
            consumer = sf.Task(["true"], inputs=producers, outputs="all.txt", name="consumer")
            consumer.start()
            sf.bag(consumer)
    """)
    proc = project.run("run", "main", "--dry-run", check=True)
    assert "dry run: 20001 of 20001 tasks would run" in proc.stdout
    assert any(line.split()[:3] == ["consumer", "would", "run"] for line in proc.stdout.splitlines())


def test_a_dependency_named_several_ways_is_one_dependency(project):
    # The same task twice, and its output named as a file: the consumer waits for it once, and
    # reads its output once.
    project.flow(f"""
        def flow_main():
            a = sf.Task({py_src("open('a.txt', 'w').write('a')")}, outputs="a.txt", name="a")
            b = sf.Task({py_src("open('b.txt', 'w').write(open('a.txt').read() + 'b')")},
                        inputs=[a, a, "a.txt", "./a.txt"], outputs="b.txt", name="b")
            b.result()
    """)
    project.run("run", "main", check=True)
    assert project.read("b.txt") == "ab"
    assert project.statuses() == {"a": "succeeded", "b": "succeeded"}
    rows = project.query("SELECT path FROM files WHERE role = 'input' AND run_id = 1")
    assert [r["path"] for r in rows] == ["a.txt"]
