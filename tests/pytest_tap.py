#!/usr/bin/env python3
"""Run the integration tests with pytest and print one TAP line per test.

pytest's own output goes to stderr (Automake keeps it in the test's .log);
stdout carries only TAP, so every test counts in `make check`'s summary.
Extra arguments are passed to pytest (e.g. -k NAME).
"""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def run_pytest(tests_dir, xml_path, extra):
    cmd = [sys.executable, "-B", "-m", "pytest", "-p", "no:cacheprovider",
           "-o", "junit_family=xunit1", "-rs", "--junitxml", xml_path,
           tests_dir] + extra
    return subprocess.call(cmd, stdout=sys.stderr, stderr=sys.stderr)


def cases(xml_path):
    root = ET.parse(xml_path).getroot()
    for case in root.iter("testcase"):
        name = "%s::%s" % (case.get("classname", ""), case.get("name", ""))
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        yield name, failure, skipped


def one_line(text):
    return " ".join((text or "").split())[:200]


def main():
    tests_dir = os.environ.get("OCTOFS_TESTS",
                               os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        xml_path = os.path.join(tmp, "pytest.xml")
        rc = run_pytest(tests_dir, xml_path, sys.argv[1:])
        if not os.path.exists(xml_path):
            print("Bail out! pytest exited %d without results" % rc)
            return 1
        n = 0
        for name, failure, skipped in cases(xml_path):
            n += 1
            if failure is not None:
                print("not ok %d - %s" % (n, name))
                print("# %s" % one_line(failure.get("message")))
            elif skipped is not None:
                print("ok %d - %s # SKIP %s" %
                      (n, name, one_line(skipped.get("message"))))
            else:
                print("ok %d - %s" % (n, name))
        if n == 0:
            print("Bail out! pytest ran no test (exit %d)" % rc)
            return 1
        print("1..%d" % n)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
