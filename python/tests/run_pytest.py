"""Runs pytest for ctest, with the two rules ctest needs:
- no test collected (pytest's exit code 5) is a failure, not a pass;
- with --skip-code C: a run whose every selected test was skipped exits with C
  (ctest's SKIP_RETURN_CODE), so skipped GPU tests never count as passed.
Usage: run_pytest.py [--skip-code C] PYTEST_ARGS...
"""
import sys

import pytest


class Outcomes:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.passed:
            self.passed += 1
        elif report.failed:
            self.failed += 1
        elif report.skipped:
            self.skipped += 1


def main(argv):
    skip_code = None
    if argv[:1] == ["--skip-code"]:
        skip_code, argv = int(argv[1]), argv[2:]
    outcomes = Outcomes()
    code = pytest.main(["-rs", "-p", "no:cacheprovider"] + argv, plugins=[outcomes])
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("run_pytest: no tests collected: a failure")
        return 1
    if code == 0 and skip_code is not None and outcomes.passed == 0 and outcomes.skipped > 0:
        print(f"run_pytest: all {outcomes.skipped} selected tests skipped: exit {skip_code}")
        return skip_code
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
