"""The demo builder is loaded where demo mode is on and nowhere else: production never imports it."""

from __future__ import annotations

import subprocess
import sys

from nbsupport.console import Console

# Every widget module the pages use, then the console the pages open, as a production process would.
OPEN_CONSOLE_AS_THE_PAGES_DO = """
import importlib, pkgutil, sys
import nbsupport.ui
for module in pkgutil.iter_modules(nbsupport.ui.__path__, "nbsupport.ui."):
    importlib.import_module(module.name)
from nbsupport.ui.session import current_console
current_console()
print(sorted(name for name in sys.modules if name.startswith("nbsupport.demo")))
"""


def test_a_console_outside_demo_mode_never_imports_the_demo_builder(
    console: Console, cli_env: dict[str, str]
) -> None:
    done = subprocess.run([sys.executable, "-c", OPEN_CONSOLE_AS_THE_PAGES_DO], env=cli_env,
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
