"""Flows in the style of the original scriptflow's examples (R and Julia simulation pipelines), and
stand-ins for ``R`` and ``julia``: small Python scripts put on PATH by the test, behaving like the
examples' ``gen_results.R``/``agg_results.R`` and ``gen_results.jl``/``agg_results.jl``.

The ``R`` stand-in reads its program from stdin, as ``R --vanilla '--args 1 temp' < gen_results.R``
gives it, and refuses to run without one: a command that handed ``<`` to R as an argument (no shell)
fails, as the real R would.
"""
from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

R_STANDIN = f"""#!{sys.executable}
import sys
argv = sys.argv[1:]
if "<" in argv:
    sys.exit("R: ARGUMENT '<' __ignored__ and no program on stdin")
program = sys.stdin.read()
words = [w for a in argv for w in a.split()]  # R takes '--args 1 temp' as one argument too
args = words[words.index("--args") + 1:] if "--args" in words else []
if "gen_results" in program:
    i, folder = args
    open(f"{{folder}}/res_{{i}}.RData", "w").write(f"draw {{i}}\\n")
elif "agg_results" in program:
    folder, = args
    import glob
    rows = sorted(open(p).read().strip() for p in glob.glob(f"{{folder}}/res_*.RData"))
    open("results.csv", "w").write("\\n".join(rows) + "\\n")
else:
    sys.exit("R: no program")
"""

JULIA_STANDIN = f"""#!{sys.executable}
import glob, os, sys
script, *args = sys.argv[1:]
if script == "gen_results.jl":
    open(f"temp/res_{{args[0]}}.csv", "w").write(f"{{args[0]}}\\n")
elif script == "agg_results.jl":
    rows = sorted(open(p).read().strip() for p in glob.glob(f"{{args[0]}}/res_*.csv"))
    open("results.csv", "w").write("\\n".join(rows) + "\\n")
else:
    sys.exit(f"julia: cannot open {{script}}")
"""


def install_standins(project) -> dict:
    """Put ``R`` and ``julia`` stand-ins in ``<project>/bin``; returns the environment that finds them."""
    folder = project.path / "bin"
    folder.mkdir(exist_ok=True)
    for name, text in (("R", R_STANDIN), ("julia", JULIA_STANDIN)):
        path = folder / name
        path.write_text(text)
        path.chmod(0o755)
    project.write("gen_results.R", "# gen_results.R: one simulation draw\n")
    project.write("agg_results.R", "# agg_results.R: aggregate the draws\n")
    project.write("gen_results.jl", "# one draw\n")
    project.write("agg_results.jl", "# aggregate\n")
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def r_flow(config: dict) -> str:
    """The original's slurm-R example, with its ``sf.init`` configuration given by the test."""
    return textwrap.dedent(f"""\
        import scriptflow as sf
        import os

        sf.init({config!r})

        temp_dir = 'temp'
        if not os.path.exists(temp_dir):
            os.mkdir(temp_dir)

        async def flow_Rit():
            tasks = [
                sf.Task(
                cmd = f"R --vanilla  '--args {{i}} {{temp_dir}}' < gen_results.R",
                outputs = f"{{temp_dir}}/res_{{i}}.RData",
                name = f"sim-{{i}}").set_retry(2)
                for i in range(3)
            ]

            await sf.bag(*tasks)

            t_agg = sf.Task(
                cmd = f\"\"\"R --vanilla  '--args {{temp_dir}}' < agg_results.R\"\"\",
                outputs = "results.csv",
                name = "agg-results")

            await t_agg
        """)


def julia_flow(config: dict) -> str:
    """The original's hpc-julia example (PBS ``hpc`` executor in the original)."""
    return textwrap.dedent(f"""\
        import scriptflow as sf
        import os

        sf.init({config!r})

        temp_dir = 'temp'
        if not os.path.exists(temp_dir):
            os.mkdir(temp_dir)

        async def flow_mysim():
            tasks = [
                sf.Task(
                cmd = f"julia gen_results.jl {{i}}",
                outputs = f"{{temp_dir}}/res_{{i}}.csv",
                name = f"sim-{{i}}")
                for i in range(3)
            ]
            await sf.bag(*tasks)
            t_agg = sf.Task(
                cmd = f"julia agg_results.jl {{temp_dir}}",
                outputs = "results.csv",
                name = "agg-results")
            await t_agg
        """)


def write_original(project, text: str) -> Path:
    return project.write("sflow.py", text)
