"""docs/python.md's gate example runs as written."""
import os
import re

import pytest

DOC = os.path.join(os.environ.get("COREROUTE_DOCS", os.path.join(os.path.dirname(__file__), "..", "..", "docs")),
                   "python.md")

def test_gate_example_runs():
    text = open(DOC).read()
    block = re.search(r"## Replacing a model's gate.*?```python\n(.*?)```", text, re.S)
    assert block, "docs/python.md lost its gate example"
    code = block.group(1)
    assert 10 <= len(code.strip().splitlines()) <= 20
    scope = {}
    exec(compile(code, DOC, "exec"), scope)
    assert scope["topk_idx"].shape == (200, 8)
