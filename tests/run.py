#!/usr/bin/env python3
"""
run.py - run the unit test binaries and the integration tests.

    python3 tests/run.py [--unit-only | --integration-only] [-k PATTERN]...

Unit tests: every executable $SMTPD_BUILD/tests/test_* (or .../tests/unit/test_*;
SMTPD_BUILD defaults to build, make check sets it per sanitizer flavour).
Each prints its own lines and ends with "N passed, N failed"; a binary that
crashes or exits non-zero without such a line counts as one failure.
Integration tests: unittest discovery of tests/integration/test_*.py (or of
tests/DIR/test_*.py with --dir DIR: tests/components holds the tests that
start real third-party daemons, run by make components);
-k is passed to unittest (substring, or a fnmatch pattern with wildcards).

The last line printed is "N passed, N failed" (", N skipped" when there
are skips); the exit status is 0 exactly when nothing failed.
"""

import argparse
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
UNIT_TIMEOUT = 120  # seconds per unit test binary
SUMMARY_RE = re.compile(r'^\s*(\d+) passed, (\d+) failed\b')


def find_unit_binaries():
    # make check passes SMTPD_BUILD (build, build-address, ...).
    build = os.path.join(ROOT, os.environ.get('SMTPD_BUILD') or 'build')
    found = []
    for d in (os.path.join(build, 'tests', 'unit'), os.path.join(build, 'tests')):
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if (name.startswith('test_') and os.path.isfile(p)
                    and os.access(p, os.X_OK) and '.' not in name[5:]):
                found.append(p)
    return found


def run_unit(out):
    passed = failed = 0
    bins = find_unit_binaries()
    if not bins:
        out.write('== unit tests: none built under %s/tests/\n'
                  % (os.environ.get('SMTPD_BUILD') or 'build'))
        return 0, 0
    for b in bins:
        rel = os.path.relpath(b, ROOT)
        out.write('== %s\n' % rel)
        out.flush()
        try:
            p = subprocess.run([b], cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=UNIT_TIMEOUT)
            text = p.stdout.decode('utf-8', 'replace')
            rc = p.returncode
        except subprocess.TimeoutExpired as e:
            text = (e.output or b'').decode('utf-8', 'replace')
            text += '\n%s: timed out after %ds\n' % (rel, UNIT_TIMEOUT)
            rc = 'timeout'
        out.write(text)
        if text and not text.endswith('\n'):
            out.write('\n')
        summary = None
        for line in text.splitlines():
            m = SUMMARY_RE.match(line)
            if m:
                summary = (int(m.group(1)), int(m.group(2)))
        if summary is None:
            out.write('%s: exit %s without a summary line: 1 failure\n' % (rel, rc))
            failed += 1
            continue
        p_, f_ = summary
        if rc != 0 and f_ == 0:
            out.write('%s: exit %s although it reported no failure: 1 failure\n' % (rel, rc))
            f_ = 1
        passed += p_
        failed += f_
    return passed, failed


class CountingResult(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.successes = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.successes += 1


def run_integration(out, patterns, suite_dir='integration'):
    idir = os.path.join(HERE, suite_dir)
    hdir = os.path.join(HERE, 'integration')  # harness.py, dnsserver.py
    for d in (hdir, idir):
        if d not in sys.path:
            sys.path.insert(0, d)
    os.chdir(ROOT)
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = [p if '*' in p else '*%s*' % p for p in patterns]
    suite = loader.discover(idir, pattern='test_*.py', top_level_dir=idir)
    out.write('== integration tests (%s)\n' % os.path.relpath(idir, ROOT))
    out.flush()
    runner = unittest.TextTestRunner(stream=out, verbosity=2,
                                     resultclass=CountingResult)
    result = runner.run(suite)
    passed = result.successes + len(result.expectedFailures)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    return passed, failed, len(result.skipped)


def main(argv):
    ap = argparse.ArgumentParser(description='run smtpd tests')
    g = ap.add_mutually_exclusive_group()
    g.add_argument('--unit-only', action='store_true')
    g.add_argument('--integration-only', action='store_true')
    ap.add_argument('--dir', default='integration', metavar='DIR',
                    help='the suite under tests/: integration (make check) '
                         'or components (make components: real daemons)')
    ap.add_argument('-k', dest='patterns', action='append', default=[],
                    metavar='PATTERN', help='only integration tests matching')
    args = ap.parse_args(argv)

    out = sys.stdout
    passed = failed = skipped = 0
    if not args.integration_only:
        p, f = run_unit(out)
        passed += p
        failed += f
    if not args.unit_only:
        p, f, s = run_integration(out, args.patterns, args.dir)
        passed += p
        failed += f
        skipped += s
    line = '%d passed, %d failed' % (passed, failed)
    if skipped:
        line += ', %d skipped' % skipped
    out.flush()
    sys.stderr.flush()
    out.write(line + '\n')
    out.flush()
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
