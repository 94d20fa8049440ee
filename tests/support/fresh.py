"""Running a check in a new interpreter: for what is process-wide, like the cycle collector."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from tests.support.services import ROOT


def in_fresh_interpreter(body: str, *, imports: str = "") -> Any:
    """Run `body`, which defines an async function `check()` returning JSON-able data, in a
    new Python (after `imports`); return what `check()` returned."""
    script = ("import asyncio, gc, json, weakref\n" + imports + "\n" + textwrap.dedent(body)
              + "\nprint(json.dumps(asyncio.run(check())))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


# Reference cycles to make and look for: `cycle()` makes one, `walked(obj)` says whether the
# collector would walk it now (a frozen object is in no generation).
CYCLES = """
class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a

def walked(obj):
    return any(o is obj for o in gc.get_objects())
"""
