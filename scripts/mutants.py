"""Mutation testing of the engine's critical code with mutmut, one module at a time (``make mutants``).

Each target is a module, optionally narrowed to the functions that matter, and the few fast test
files that cover it. For a target, a staging folder ``build/mutants/<target>/`` gets a copy of the
package as ``src/implicit_studio`` (mutmut imports mutated code from ``mutants/src``), the tests and
a ``pyproject.toml`` whose ``[tool.mutmut]`` names the module and the test files; then
``mutmut run --max-children 1`` runs there, mutating only the target's functions. The score is
(killed + timed out) / (mutants - equivalent mutants); the equivalent ones are the mutant names
listed in the "Equivalent mutants" section of docs/TESTING.md, each with its reason there.

Usage: python scripts/mutants.py [TARGET ...]     (no TARGET: all, one after the other)
       python scripts/mutants.py --survivors TARGET   (after adding tests: the last run's survivors again)
       python scripts/mutants.py --table              (the scores table of docs/TESTING.md)
       python scripts/mutants.py --list
Writes build/mutants/<target>/summary.json, survivors.txt (the diff of every surviving mutant) and
mutmut.log, and benchmarks/results/mutants-<target>.json: the status of every mutant, from which
``--table`` computes the scores with the equivalent mutants listed in docs/TESTING.md at that time.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "build" / "mutants"
TESTING_MD = ROOT / "docs" / "TESTING.md"
RESULTS = ROOT / "benchmarks" / "results"
DETECTED = {"killed", "timeout", "segfault", "caught by type check"}


@dataclass(frozen=True)
class Target:
    module: str                  # path under app/implicit_studio
    tests: tuple[str, ...]       # test files run against its mutants
    goal: float                  # the score issue 24 asks for
    functions: tuple[str, ...] = ("*",)   # names of the functions (or Class.method) to mutate

    @property
    def dotted(self) -> str:
        return "implicit_studio." + self.module.removesuffix(".py").replace("/", ".")

    def globs(self) -> list[str]:
        """mutmut's mutant-name patterns: x_NAME for functions, xǁClassǁNAME for methods."""
        out = []
        for name in self.functions:
            mangled = "xǁ" + "ǁ".join(name.split(".")) if "." in name else f"x_{name}"
            out.append(f"{self.dotted}.{mangled}__mutmut_*" if name != "*" else f"{self.dotted}.*")
        return out


SESSION_CONTROL = ("cancel", "cancelled", "pause", "resume", "paused", "stop_fit", "run", "_fit", "_optimise", "_mesh")
TARGETS = {
    "metrics": Target("evaluate/metrics.py", ("tests/unit/test_metrics.py",), 0.90),
    "inside": Target("evaluate/inside.py", ("tests/unit/test_metrics.py",), 0.90),
    "mise": Target("engine/meshing/mise.py", ("tests/unit/test_mise.py",), 0.90),
    "marching": Target("engine/meshing/marching.py", ("tests/unit/test_marching.py", "tests/unit/test_mise.py"), 0.90),
    "checkpoints": Target("engine/checkpoints.py", ("tests/unit/test_checkpoint.py",), 0.80),
    "session": Target("engine/session.py", ("tests/unit/test_session.py", "tests/unit/test_remesh.py",
                                            "tests/unit/test_session_refine.py", "tests/unit/test_photo_session.py",
                                            "tests/unit/test_scene_session.py"), 0.80,
                      tuple(f"ReconstructionSession.{name}" for name in SESSION_CONTROL)),
    "ply-header": Target("io/ply.py", ("tests/unit/test_ply_header.py", "tests/unit/test_io.py",
                                       "tests/unit/test_io_hostile.py"), 0.80,
                         ("read_header", "_parse_format", "_parse_element", "_add_property")),
    "files-header": Target("io/files.py", ("tests/unit/test_file_checks.py", "tests/unit/test_io.py",
                                           "tests/unit/test_io_hostile.py"), 0.80,
                           ("_check_file", "_check_size", "_sniff", "_format_from_extension", "_detect")),
}


def equivalent_mutants() -> set[str]:
    """Mutant names listed under the "Equivalent mutants" heading of docs/TESTING.md."""
    if not TESTING_MD.is_file():
        return set()
    text = TESTING_MD.read_text(encoding="utf-8")
    start = text.find("## Equivalent mutants")
    if start < 0:
        return set()
    end = text.find("\n## ", start + 1)
    section = text[start:end if end > 0 else len(text)]
    return set(re.findall(r"`(implicit_studio\.[^`\s]+__mutmut_\d+)`", section))


def stage(name: str, target: Target) -> Path:
    """A fresh staging folder for ``target``: src/implicit_studio, tests, pyproject.toml with [tool.mutmut]."""
    folder = STAGE / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "app" / "implicit_studio", folder / "src" / "implicit_studio",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", folder / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    # the shipped weights, which some tests read beside tests/ (mutmut copies them into mutants/: also_copy)
    (folder / "checkpoints").symlink_to(ROOT / "checkpoints", target_is_directory=True)
    write_config(folder, target)
    return folder


def write_config(folder: Path, target: Target) -> None:
    """The staging folder's pyproject.toml: [tool.mutmut] for ``target`` and the project's pytest options."""
    pytest_section = (ROOT / "pyproject.toml").read_text(encoding="utf-8").split("[tool.pytest.ini_options]")[1]
    config = {
        "source_paths": ["src/"],
        "only_mutate": [f"src/implicit_studio/{target.module}"],
        "pytest_add_cli_args_test_selection": list(target.tests),
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
        "also_copy": ["checkpoints"],
    }
    lines = ["[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    (folder / "pyproject.toml").write_text("\n".join(lines) + "\n\n[tool.pytest.ini_options]" + pytest_section,
                                           encoding="utf-8")


def mutmut_env() -> dict:
    """The package must come from the staging copy (no PYTHONPATH) and find the shipped weights."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(IMPLICIT_STUDIO_CHECKPOINTS=str(ROOT / "checkpoints"), OMP_NUM_THREADS="1")
    return env


def mutmut(folder: Path, *args: str, log: Path) -> subprocess.CompletedProcess:
    """Run mutmut in ``folder``, its output into ``log``."""
    command = [str(Path(sys.executable).with_name("mutmut")), *args]
    with open(log, "w", encoding="utf-8") as out:
        return subprocess.run(command, cwd=folder, env=mutmut_env(), text=True, stdout=out, stderr=subprocess.STDOUT,
                              check=False)


def link_every_test(folder: Path, target: Target) -> None:
    """Run each reached function's mutants against every test of the target's files (fastest first, up to the
    first failure), not only the tests mutmut saw calling it.

    mutmut links a function to the tests during which it ran. A module-scoped fixture runs its functions
    once, inside the first test that asks for it; the later tests that check the fixture's result would
    never meet a mutant (the metrics tests check Chamfer-L1 x10 of the reference pair that way).
    Edits mutmut 3.8's stats file, which a later ``mutmut run`` loads instead of collecting again.
    """
    path = folder / "mutants" / "mutmut-stats.json"
    stats = json.loads(path.read_text(encoding="utf-8"))
    every = sorted(stats["duration_by_test"])
    links = stats["tests_by_mangled_function_name"]
    for key in links:
        if key.startswith(target.dotted + "."):
            links[key] = every
    path.write_text(json.dumps(stats, indent=1), encoding="utf-8")


def survivor_diffs(folder: Path, names: list[str]) -> str:
    """The diff of each mutant in ``names`` (one process: ``mutmut show`` would start one per mutant)."""
    code = ("import sys, mutmut.__main__\n"
            "from mutmut.mutation.diff_apply import get_diff_for_mutant\n"
            "for name in sys.argv[1:]:\n"
            "    print(f'# {name}')\n"
            "    print(get_diff_for_mutant(name))\n"
            "    print()\n")
    return subprocess.run([sys.executable, "-c", code, *names], cwd=folder, env=mutmut_env(), text=True,
                          capture_output=True, check=False).stdout


def results(folder: Path, target: Target) -> dict[str, str]:
    """{mutant name: status} of the target's functions, from mutmut's meta file."""
    from mutmut.stats import status_by_exit_code

    meta = folder / "mutants" / "src" / "implicit_studio" / (target.module + ".meta")
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    globs = target.globs()
    return {key: status_by_exit_code[code] for key, code in codes.items()
            if any(fnmatch.fnmatchcase(key, g) for g in globs)}


def score(statuses: dict[str, str], equivalent: set[str]) -> dict:
    """Counts by status and the score, equivalent mutants left out of both."""
    counted = {k: v for k, v in statuses.items() if k not in equivalent}
    by_status: dict[str, int] = {}
    for status in counted.values():
        by_status[status] = by_status.get(status, 0) + 1
    detected = sum(n for status, n in by_status.items() if status in DETECTED)
    return {"mutants": len(statuses), "equivalent": len(statuses) - len(counted), "by_status": by_status,
            "detected": detected, "score": detected / len(counted) if counted else None,
            "survivors": sorted(k for k, v in counted.items() if v not in DETECTED)}


def refresh(folder: Path, target: Target) -> None:
    """Bring a staging folder's tests and the package around the target module up to date, for running the
    last run's survivors again; the target module itself must be unchanged since that run (its mutants and
    their names come from it)."""
    source = ROOT / "app" / "implicit_studio"
    staged = folder / "src" / "implicit_studio"
    if (source / target.module).read_bytes() != (staged / target.module).read_bytes():
        raise SystemExit(f"{target.module} changed since the last run of this target: run it in full")
    write_config(folder, target)                        # the target's test files may have changed
    for copy in (folder / "tests", folder / "mutants" / "tests"):
        shutil.rmtree(copy)
        shutil.copytree(ROOT / "tests", copy, ignore=shutil.ignore_patterns("__pycache__"))
    for tree in (staged, folder / "mutants" / "src" / "implicit_studio"):
        keep = {tree / target.module} | set(tree.glob(target.module + ".*"))     # mutated module, meta, spans
        for path in tree.rglob("*"):
            if path.is_file() and path not in keep and "__pycache__" not in path.parts:
                path.unlink()
        for path in source.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.relative_to(source) != Path(target.module):
                (tree / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, tree / path.relative_to(source))


def run_target(name: str, target: Target, equivalent: set[str], survivors_only: bool = False) -> dict:
    """Mutation-test ``target`` in a fresh staging folder, or, with ``survivors_only``, run the survivors
    of its last run again against the current tests (the code under test must be unchanged since)."""
    folder = STAGE / name
    started = time.perf_counter()
    print(f"== {name}: {target.module}, functions {', '.join(target.functions)}; tests {' '.join(target.tests)}",
          flush=True)
    print(f"   mutmut's output: {folder / 'mutmut.log'}", flush=True)
    if survivors_only:
        selected = [name for name in json.loads((folder / "summary.json").read_text(encoding="utf-8"))["survivors"]
                    if name not in equivalent]         # the ones listed as equivalent since would survive again
        last_run_ended = (folder / "summary.json").stat().st_mtime
        refresh(folder, target)
        first = selected[:1]                   # mutmut finds the new tests and collects their stats
    else:
        stage(name, target)
        selected = target.globs()
        first = [f"{target.dotted}.*__mutmut_1"]   # the mutants and the stats, with one mutant per function
    if selected:
        mutmut(folder, "run", "--max-children", "1", *first, log=folder / "mutmut-stats.log")
        link_every_test(folder, target)
        mutmut(folder, "run", "--max-children", "1", *selected, log=folder / "mutmut.log")
    minutes = round((time.perf_counter() - started) / 60, 1)
    if survivors_only:                         # the full run's time stands
        minutes = json.loads((folder / "summary.json").read_text(encoding="utf-8"))["minutes"]
    statuses = results(folder, target)
    summary = score(statuses, equivalent)
    summary.update(target=name, module=target.module, functions=list(target.functions), tests=list(target.tests),
                   goal=target.goal, minutes=minutes)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (folder / "survivors.txt").write_text(survivor_diffs(folder, summary["survivors"]), encoding="utf-8")
    record = RESULTS / f"mutants-{name}.json"
    if not survivors_only:
        runs = []
    elif record.is_file():
        runs = json.loads(record.read_text(encoding="utf-8"))["runs"]
    else:                                      # runs made before runs were recorded: when the last one ended
        made = time.gmtime(last_run_ended)
        runs = [{"date": time.strftime("%Y-%m-%d %H:%M UTC", made), "kind": "full, survivors again (unrecorded)",
                 "mutants_run": None, "load_average": None, "cores": os.cpu_count()}]
    runs.append({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "kind": "survivors again" if survivors_only else "full",
                 "mutants_run": len(selected) if survivors_only else len(statuses),
                 "load_average": round(os.getloadavg()[0], 1), "cores": os.cpu_count()})
    RESULTS.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"target": name, "module": target.module, "functions": list(target.functions),
                                  "tests": list(target.tests), "goal": target.goal, "minutes": minutes, "runs": runs,
                                  "statuses": dict(sorted(statuses.items()))}, indent=1) + "\n", encoding="utf-8")
    return summary


def table(equivalent: set[str]) -> list[str]:
    """The scores table (markdown) from benchmarks/results/mutants-*.json, in the order of TARGETS, with the
    equivalent mutants listed now. A target never run gets a row saying so."""
    lines = ["| target | module | mutants | detected | equivalent | surviving | score | goal | measured |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, target in TARGETS.items():
        record = RESULTS / f"mutants-{name}.json"
        if not record.is_file():
            lines.append(f"| {name} | `{target.module}` | not run | | | | | {target.goal:.0%} | |")
            continue
        data = json.loads(record.read_text(encoding="utf-8"))
        s = score(data["statuses"], equivalent)
        met = "" if s["score"] is not None and s["score"] >= data["goal"] else " (below)"
        runs = "; ".join(f"{r['kind']}" + (f" ({r['mutants_run']} run)" if r["kind"] == "survivors again" else "")
                         + f" {r['date']}" for r in data["runs"])
        lines.append(f"| {name} | `{data['module']}` | {s['mutants']} | {s['detected']} | {s['equivalent']} | "
                     f"{len(s['survivors'])} | {s['score']:.1%}{met} | {data['goal']:.0%} | {runs} |")
    return lines


def misplaced_equivalents(equivalent: set[str]) -> list[str]:
    """Listed equivalent mutants that no recorded run has, or that a test detected (a listing gone stale)."""
    known: dict[str, str] = {}
    for record in sorted(RESULTS.glob("mutants-*.json")):
        known.update(json.loads(record.read_text(encoding="utf-8"))["statuses"])
    recorded_modules = {f"implicit_studio.{t.module.removesuffix('.py').replace('/', '.')}."
                        for n, t in TARGETS.items() if (RESULTS / f"mutants-{n}.json").is_file()}
    out = []
    for name in sorted(equivalent):
        if not any(name.startswith(m) for m in recorded_modules):
            continue
        if name not in known:
            out.append(f"{name}: no such mutant in the recorded runs")
        elif known[name] in DETECTED:
            out.append(f"{name}: listed as equivalent but {known[name]}")
    return out




def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help=f"one or more of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--table", action="store_true",
                        help="print the scores table from benchmarks/results/mutants-*.json and exit")
    parser.add_argument("--survivors", action="store_true",
                        help="run only the last run's surviving mutants again, against the current tests")
    args = parser.parse_args()
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name:13s} {target.module:28s} goal {target.goal:.0%}  tests {' '.join(target.tests)}")
        return 0
    if args.table:
        equivalent = equivalent_mutants()
        print("\n".join(table(equivalent)))
        stale = misplaced_equivalents(equivalent)
        for line in stale:
            print(f"stale equivalent listing: {line}", file=sys.stderr)
        return 1 if stale else 0
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    equivalent = equivalent_mutants()
    missed = []
    for name in args.targets or list(TARGETS):
        summary = run_target(name, TARGETS[name], equivalent, args.survivors)
        line = (f"{name}: {summary['detected']}/{summary['mutants'] - summary['equivalent']} detected "
                f"({summary['score']:.1%}, goal {summary['goal']:.0%}), {summary['equivalent']} equivalent, "
                f"{len(summary['survivors'])} surviving, {summary['minutes']} min; "
                f"details in {STAGE / name}/summary.json and survivors.txt")
        print(line, flush=True)
        if summary["score"] is None or summary["score"] < summary["goal"]:
            missed.append(name)
    if missed:
        print(f"below the goal: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
