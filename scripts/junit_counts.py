"""Prints 'passed failed skipped' from a ctest JUnit report (skipped: neither passed nor failed)."""
import sys
import xml.etree.ElementTree as ET

try:
    cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
except (OSError, ET.ParseError):
    print(0, 1, 0)  # no report: count the configuration as one failure
    sys.exit(0)
passed = failed = skipped = 0
for case in cases:
    status = case.get("status", "")
    if case.find("failure") is not None or case.find("error") is not None or status == "fail":
        failed += 1
    elif case.find("skipped") is not None or status in ("notrun", "disabled", "skipped"):
        skipped += 1
    else:
        passed += 1
print(passed, failed, skipped)
