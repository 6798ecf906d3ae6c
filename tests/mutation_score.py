"""Mutation testing of the pure server modules (mutmut 3), for `make mutation`.

    python tests/mutation_score.py stage DIR     copy what mutmut needs into DIR
    python tests/mutation_score.py score DIR     kill rate per module from DIR/mutants
    python tests/mutation_score.py survivors DIR [MODULE]   the surviving mutants, as diffs
    python tests/mutation_score.py names DIR [MODULE]       their names (``mutmut run NAMES…`` reruns them)

Environment for ``stage``: MUTATION_TESTS replaces the test selection (space-separated paths),
MUTATION_PYTEST_ARGS adds pytest options (e.g. ``--deselect tests/x.py::test_y``) — for a run
on a checkout where some selected test fails (mutmut's first, clean run must pass).

Why a staging directory: mutmut names a mutant after its file's path
(``plpython/nyop_server/model.py`` → ``plpython.nyop_server.model``) but the tests import
``nyop_server.model`` (pyproject's pytest ``pythonpath = ["plpython", "."]``), so run from the
checkout mutmut would find no test for any mutant. In DIR the package sits at the top
(``DIR/nyop_server``) next to a copy of the database-free tests, and DIR/pyproject.toml holds
the checkout's ``[tool.mutmut]`` with its paths moved accordingly (plpython/nyop_server/… →
nyop_server/…). The checkout itself is never written to.

Scores: a mutant is *killed* when a test fails on it (a timeout counts as killed: the tests
noticed); anything else — survived, no test reached it, suspicious — is not. A mutant is a
*message* mutant when all it changes lies inside the arguments of an error being raised or
built (its message, hint or detail — not its sqlstate); every other mutant changes logic. The target of
issue 17 is on logic mutants; both rates are printed. A survivor listed in
``tests/mutation_equivalent.txt`` (reviewed: it changes nothing a caller can observe) is
*equivalent*: counted apart, in neither rate.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shlex
import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG_SRC = "plpython/nyop_server"
PKG = "nyop_server"

KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}
STATUS = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 35: "suspicious", 37: "type check",
          None: "not checked", -11: "segfault", -9: "segfault", 2: "interrupted"}
ERROR_NAMES = ("Error", "Parameter", "Column", "Table", "Object", "Privilege", "Mismatch", "Infeasible")


def status_of(code) -> str:
    return KILLED.get(code) or STATUS.get(code, "suspicious")


# -- staging ------------------------------------------------------------------------

def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError("cannot write %r as TOML" % (v,))


def moved(path: str) -> str:
    return PKG + path[len(PKG_SRC):] if path.startswith(PKG_SRC) else path


def stage(dest: Path) -> None:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    mm = dict(conf["tool"]["mutmut"])
    pt = dict(conf["tool"]["pytest"]["ini_options"])
    for key in ("source_paths", "paths_to_mutate", "only_mutate", "do_not_mutate"):
        if key in mm:
            mm[key] = [moved(p) for p in mm[key]]
    selection = mm.get("pytest_add_cli_args_test_selection", []) + mm.pop("tests_dir", [])
    # overrides for one run (a test that fails on the checkout blocks mutmut's first, clean run)
    if os.environ.get("MUTATION_TESTS"):
        selection = shlex.split(os.environ["MUTATION_TESTS"])
    mm["pytest_add_cli_args_test_selection"] = selection
    mm["pytest_add_cli_args"] = mm.get("pytest_add_cli_args", []) + shlex.split(
        os.environ.get("MUTATION_PYTEST_ARGS", ""))
    dest.mkdir(parents=True, exist_ok=True)
    # a fresh copy of the sources and tests; mutmut's own results (DIR/mutants) are kept only
    # for the files that did not change (mutmut re-mutates a file whose copy is newer)
    if (dest / PKG).exists():
        shutil.rmtree(dest / PKG)
    shutil.copytree(ROOT / PKG_SRC, dest / PKG, ignore=shutil.ignore_patterns("__pycache__"))
    if (dest / "tests").exists():
        shutil.rmtree(dest / "tests")
    (dest / "tests").mkdir()
    shutil.copy2(ROOT / "tests" / "conftest.py", dest / "tests" / "conftest.py")
    for sel in selection:
        src = ROOT / sel
        if src.is_dir():
            shutil.copytree(src, dest / sel, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            (dest / sel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / sel)
        else:
            sys.exit("mutation: test selection %s does not exist" % sel)
    # mutants/ holds mutmut's copy of the sources: drop the copies whose source changed (mutmut
    # mutates them again). Their results (*.py.meta) stay: mutmut keeps the result of every
    # mutant whose function is unchanged (it hashes each function) and runs the others again.
    # Only a module that is gone loses its results.
    mutants = dest / "mutants" / PKG
    if mutants.exists():
        for f in mutants.rglob("*.py"):
            rel = f.relative_to(mutants)
            src, prev = ROOT / PKG_SRC / rel, dest / "last-run" / rel
            if not src.exists() or not prev.exists() or prev.read_bytes() != src.read_bytes():
                f.unlink()
        for extra in list(mutants.rglob("*.py.meta")) + list(mutants.rglob("*.py.spans")):
            if not (ROOT / PKG_SRC / extra.relative_to(mutants).with_suffix("")).exists():
                extra.unlink()
        # which test reaches which function: collected afresh, the tests may have changed
        shutil.rmtree(dest / "mutants" / "tests", ignore_errors=True)
        for f in ("mutmut-stats.json", "pyproject.toml"):
            if (dest / "mutants" / f).exists():
                (dest / "mutants" / f).unlink()
    orig = dest / "last-run"              # the sources mutmut's results in mutants/ belong to
    shutil.rmtree(orig, ignore_errors=True)
    orig.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / PKG_SRC, orig, ignore=shutil.ignore_patterns("__pycache__"))
    lines = ["# written by tests/mutation_score.py stage from the checkout's pyproject.toml", "",
             "[tool.pytest.ini_options]"]
    pt["pythonpath"] = ["."]
    for k, v in pt.items():
        lines.append("%s = %s" % (k, toml_value(v)))
    lines += ["", "[tool.mutmut]"]
    for k, v in mm.items():
        lines.append("%s = %s" % (k, toml_value(v)))
    (dest / "pyproject.toml").write_text("\n".join(lines) + "\n", "utf-8")
    print("mutation: staged %s (%s; tests: %s)" % (dest, ", ".join(mm.get("only_mutate", [PKG])),
                                                   " ".join(selection)))


# -- classification -----------------------------------------------------------------

def functions(tree: ast.AST) -> dict:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def differences(a, b, chain=()):
    """The smallest differing nodes of two ASTs, each with its ancestors."""
    if type(a) is not type(b):
        return [(a, b, chain)]
    if isinstance(a, ast.AST):
        out = []
        for field in a._fields:
            if field in ("name",) and isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            out += differences(getattr(a, field, None), getattr(b, field, None), chain + (a,))
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [(a, b, chain)]
        out = []
        for x, y in zip(a, b):
            out += differences(x, y, chain)
        return out
    return [] if a == b else [(a, b, chain)]


def in_raised_message(chain) -> bool:
    """Inside the arguments of an error being raised or built (``raise X(...)``,
    ``InvalidParameter(...)``), but not its ``sqlstate``."""
    inside = False
    for node in chain:
        if isinstance(node, ast.keyword) and node.arg == "sqlstate":
            return False
        if isinstance(node, ast.Raise):
            inside = True
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name.endswith(ERROR_NAMES):
                inside = True
    return inside


def is_message_mutant(orig: ast.AST, mutant: ast.AST) -> bool:
    """Every change is inside the text of an error (its message, hint or detail, or what
    they are formatted from)."""
    diffs = differences(orig, mutant)
    return bool(diffs) and all(in_raised_message(chain) and not isinstance(a, ast.Raise)
                               for a, b, chain in diffs)


def mutant_function(key: str) -> tuple:
    """('nyop_server.model', 'x_parse_utility__mutmut_3', 'x_parse_utility__mutmut_orig')."""
    mod, _, fn = key.rpartition(".")
    while "__mutmut_" not in fn:           # class methods: module.xǁClassǁmethod__mutmut_N
        mod, _, head = mod.rpartition(".")
        fn = head + "." + fn
    return mod, fn, fn.partition("__mutmut_")[0] + "__mutmut_orig"


#: Surviving mutants reviewed as equivalent -- they change no result any caller can observe (a
#: dtype numpy uses anyway, a fast-path filter whose exact check follows, a chunk size) -- one per
#: line: the mutant's name, then why. Tied to the sources they were read on: a source that
#: changes renumbers its mutants, and its entries must be reviewed again.
EQUIVALENT = Path(__file__).with_name("mutation_equivalent.txt")


def equivalents() -> dict:
    out = {}
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text("utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, why = line.partition(" ")
                out[key] = why.strip()
    return out


def load(dest: Path) -> dict:
    """{module: [(key, status, kind)]} from DIR/mutants; kind is "message", "equivalent" (a
    survivor listed in mutation_equivalent.txt) or "logic"."""
    same = equivalents()
    out = {}
    for meta in sorted((dest / "mutants" / PKG).glob("*.py.meta")):
        data = json.loads(meta.read_text("utf-8"))
        src = meta.with_name(meta.name[:-len(".meta")])
        fns = functions(ast.parse(src.read_text("utf-8")))
        module = PKG + "." + src.stem
        rows = []
        for key, code in sorted(data["exit_code_by_key"].items(), key=lambda kv: natural(kv[0])):
            _, fn, orig = mutant_function(key)
            kind = "logic"
            if fn in fns and orig in fns and is_message_mutant(fns[orig], fns[fn]):
                kind = "message"
            elif key in same and status_of(code) not in ("killed", "timeout"):
                kind = "equivalent"
            rows.append((key, status_of(code), kind))
        out[module] = rows
    return out


def natural(key: str):
    head, _, n = key.rpartition("__mutmut_")
    return (head, int(n) if n.isdigit() else 0)


def rate(rows) -> tuple:
    done = [r for r in rows if r[1] != "not checked"]
    killed = [r for r in done if r[1] in ("killed", "timeout")]
    return len(killed), len(done)


def pct(k, n) -> str:
    return "%5.1f%%" % (100.0 * k / n) if n else "   - "


def score(dest: Path, targets: dict) -> int:
    data = load(dest)
    if not data:
        print("mutation: no results under %s/mutants — run `make mutation` first" % dest)
        return 1
    print("%-26s %6s %6s %6s %8s %8s %8s %6s  %s" % ("module", "total", "killed", "surv.", "no test", "all",
                                                     "logic", "equiv.", "target"))
    bad = 0
    for module, rows in data.items():
        k, n = rate(rows)
        logic = [r for r in rows if r[2] == "logic"]
        lk, ln = rate(logic)
        surv = sum(1 for r in rows if r[1] == "survived")
        notest = sum(1 for r in rows if r[1] == "no tests")
        name = module.rpartition(".")[2]
        target = targets.get(name)
        ok = "" if target is None else ("ok (>= %d%%)" % target if ln and 100.0 * lk / ln >= target
                                        else "BELOW %d%%" % target)
        if target is not None and not (ln and 100.0 * lk / ln >= target):
            bad += 1
        unchecked = sum(1 for r in rows if r[1] == "not checked")
        equiv = sum(1 for r in rows if r[2] == "equivalent")
        print("%-26s %6d %6d %6d %8d %8s %8s %6d  %s%s" % (module, len(rows), k, surv, notest, pct(k, n),
                                                           pct(lk, ln), equiv, ok,
                                                           "  (%d not run yet)" % unchecked if unchecked else ""))
    return 1 if bad else 0


def survivors(dest: Path, module: str | None, show_message: bool) -> None:
    import difflib
    for mod, rows in load(dest).items():
        if module and mod.rpartition(".")[2] != module and mod != module:
            continue
        src = dest / "mutants" / PKG / (mod.rpartition(".")[2] + ".py")
        text = src.read_text("utf-8")
        lines = text.splitlines()
        fns = functions(ast.parse(text))
        segment = lambda node: "\n".join(lines[node.lineno - 1:node.end_lineno])
        for key, status, kind in rows:
            if status in ("killed", "timeout", "not checked") or (kind in ("message", "equivalent") and not show_message):
                continue
            _, fn, orig = mutant_function(key)
            a = segment(fns[orig]) if orig in fns else ""
            b = segment(fns[fn]) if fn in fns else ""
            a = a.replace(orig, fn.partition("__mutmut_")[0])
            b = b.replace(fn, fn.partition("__mutmut_")[0])
            print("## %s: %s (%s)" % (key, status, kind))
            for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=1):
                if not line.startswith(("---", "+++")):
                    print(line)
            print()


TARGETS = {"model": 90, "mckp": 90, "pricing": 90, "audit": 90, "market": 90, "quality": 90, "delivery": 90,
           "registration": 90, "scope": 80}         # audit: market.py's pure part since the handlers split


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["stage", "score", "survivors", "names"])
    ap.add_argument("dir", type=Path)
    ap.add_argument("module", nargs="?")
    ap.add_argument("--messages", action="store_true", help="survivors: list message and equivalent mutants too")
    a = ap.parse_args(argv)
    if a.command == "stage":
        stage(a.dir)
        return 0
    if a.command == "score":
        return score(a.dir, TARGETS)
    if a.command == "names":      # the mutants not killed, to run again after the tests improved
        for mod, rows in load(a.dir).items():
            if not a.module or mod.rpartition(".")[2] == a.module:
                print("\n".join(k for k, status, _ in rows if status not in ("killed", "timeout", "not checked")))
        return 0
    survivors(a.dir, a.module, a.messages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
