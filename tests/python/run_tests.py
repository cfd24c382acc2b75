#!/usr/bin/python3
"""ctest entry point for the redis-py suites: run_tests.py --binary PATH MODULE [MODULE...].

Exit codes: 0 all ran tests passed, 1 a test failed or errored (or the binary is missing),
77 the whole suite was skipped because a prerequisite is missing (the reason is printed;
ctest maps 77 to "Skipped" through SKIP_RETURN_CODE). Individually skipped tests are listed
with their reason in the verbose output and again in the summary at the end.
"""
import argparse
import os
import sys
import unittest

SKIP_EXIT = 77


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True, help="path of the slotwise executable")
    ap.add_argument("modules", nargs="+", help="test modules in this directory, e.g. test_redis_py")
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        print(f"FAIL: slotwise binary {args.binary!r} not found: build the 'slotwise' target first",
              file=sys.stderr)
        return 1
    os.environ["SLOTWISE_BINARY"] = args.binary
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import slotwise_testlib
    reason = slotwise_testlib.prerequisites_missing()
    if reason:
        print(f"SKIPPED (whole suite): {reason}")
        return SKIP_EXIT
    suite = unittest.defaultTestLoader.loadTestsFromNames(args.modules)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    for test, why in result.skipped:
        print(f"skipped: {test.id()}: {why}")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
