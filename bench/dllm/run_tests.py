"""ctest's entry to the bench/dllm tests: exit 77 (a skip, never a pass) when this Python has no torch or when
any test skipped; else pytest's own status.

    python3 bench/dllm/run_tests.py [--cli PATH] [--basetemp DIR]
"""
import argparse
import os
import sys

SKIP = 77


class SkipCounter:
    def __init__(self):
        self.skipped = []

    def pytest_runtest_logreport(self, report):
        if report.skipped:
            self.skipped.append(report.nodeid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default="", help="the coreroute CLI, for the tests that route every policy through it")
    ap.add_argument("--basetemp", default=None)
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
        import pytest
    except ImportError as e:
        print("skipped: %s has no %s (Debian: python3-torch, python3-pytest)" % (sys.executable, e.name))
        return SKIP
    if args.cli:
        os.environ["COREROUTE_CLI"] = args.cli
    counter = SkipCounter()
    extra = ["--basetemp", args.basetemp] if args.basetemp else []
    status = pytest.main(["-q", "-rs", "-p", "no:cacheprovider"] + extra + [os.path.dirname(os.path.abspath(__file__))],
                         plugins=[counter])
    if status == 0 and counter.skipped:
        print("skipped (not passed): %s" % ", ".join(counter.skipped))
        return SKIP
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
