"""Wheel builds carry the extension: build_py writes nyop_pg/payload/ (the control file, the
install and upgrade scripts from sql/build.sh, the server-side Python from plpython/) into the
build tree, so `pip install nyop-pg` + `nyop-pg install-server` need no git checkout. The
metadata lives in pyproject.toml; this file only adds that step. Editable installs skip it:
there nyop_pg/payload.py reads the checkout itself."""

import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))


class build_py_with_payload(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        sys.path.insert(0, ROOT)
        try:
            from nyop_pg import payload
        finally:
            sys.path.remove(ROOT)
        target = os.path.join(self.build_lib, "nyop_pg", "payload")
        shutil.rmtree(target, ignore_errors=True)        # nothing stale from an earlier build
        version = payload.build(target, root=ROOT)
        self.announce(f"nyop {version}: extension files and server-side Python in {target}", level=2)


setup(cmdclass={"build_py": build_py_with_payload})
