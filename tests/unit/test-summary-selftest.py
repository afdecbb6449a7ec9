#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/test-summary.py against testlog.json files written here: it
counts TAP cases, not executables; crashes and silent failures count as
failed cases; skip reasons are tallied; a run in which no qmig guest ran
fails.

    test-summary-selftest.py PATH/TO/test-summary.py
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

SUMMARY = None
CLOSING = re.compile(r'^(\d+) passed, (\d+) failed, (\d+) skipped$')
GUEST = '# qmig-guest-ran accel=tcg vmm=qmig count=3\n'


def entry(name, result, stdout, returncode=None):
    if returncode is None:
        returncode = {'OK': 0, 'SKIP': 77}.get(result, 1)
    return {'name': name, 'result': result, 'stdout': stdout,
            'returncode': returncode}


class TestSummary(unittest.TestCase):
    def run_summary(self, entries, *extra, logs=None):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'testlog.json')
            with open(path, 'w', encoding='utf-8') as f:
                for e in entries:
                    f.write(json.dumps(e) + '\n')
            argv = [sys.executable, SUMMARY] + list(extra)
            argv += logs if logs is not None else [path]
            p = subprocess.run(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               check=False)
        lines = p.stdout.splitlines()
        self.assertTrue(lines, p.stderr)
        m = CLOSING.match(lines[-1])
        self.assertIsNotNone(m, 'closing line: %r' % lines[-1])
        return p.returncode, tuple(int(x) for x in m.groups()), p.stdout

    def test_counts_cases_not_executables(self):
        tap = ('# random seed: R02S\n1..4\n'
               'ok 1 /a\nok 2 /b\n'
               'ok 3 /c # SKIP needs KVM\'s dirty ring; running under tcg\n'
               'ok 4 /d # a comment, not a directive\n' + GUEST)
        rc, counts, _ = self.run_summary([entry('t1', 'OK', tap),
                                          entry('t2', 'OK',
                                                '1..1\nok 1 /e\n')])
        self.assertEqual(rc, 0)
        self.assertEqual(counts, (4, 0, 1))

    def test_failed_case(self):
        tap = '1..2\nok 1 /a\nnot ok 2 /b\n' + GUEST
        rc, counts, out = self.run_summary([entry('t', 'FAIL', tap)])
        self.assertEqual(rc, 1)
        self.assertEqual(counts, (1, 1, 0))
        self.assertIn('t: /b', out)

    def test_crash_without_output_is_a_failure(self):
        rc, counts, _ = self.run_summary([
            entry('ok', 'OK', '1..1\nok 1 /a\n' + GUEST),
            entry('crash', 'FAIL', '', returncode=-11),
            entry('hang', 'TIMEOUT', '')])
        self.assertEqual(rc, 1)
        self.assertEqual(counts, (1, 2, 0))

    def test_cases_that_never_reported(self):
        tap = ('1..5\nok 1 /a\nok 2 /b\n'
               'Bail out! FATAL-ERROR: timed out\n' + GUEST)
        rc, counts, out = self.run_summary([entry('t', 'FAIL', tap)])
        self.assertEqual(rc, 1)
        self.assertEqual(counts, (2, 3, 0))
        self.assertIn('3 of 5 cases never reported', out)

    def test_bail_out_before_any_case(self):
        rc, counts, _ = self.run_summary([
            entry('t', 'FAIL', 'Bail out! FATAL-ERROR: no VMM\n'),
            entry('g', 'OK', '1..1\nok 1 /a\n' + GUEST)])
        self.assertEqual(rc, 1)
        self.assertEqual(counts, (1, 1, 0))

    def test_executable_fails_after_passing_cases(self):
        # E.g. a sanitizer report at exit: the cases passed, the run not.
        rc, counts, _ = self.run_summary([
            entry('t', 'FAIL', '1..1\nok 1 /a\n' + GUEST)])
        self.assertEqual(rc, 1)
        self.assertEqual(counts, (1, 1, 0))

    def test_non_tap_programs(self):
        rc, counts, out = self.run_summary([
            entry('cpu-state-check', 'SKIP',
                  'SKIP: needs KVM (white box); no usable /dev/kvm\n'),
            entry('fuzz', 'OK', 'INFO: Done 100 runs\n'),
            entry('g', 'OK', '1..1\nok 1 /a\n' + GUEST)])
        self.assertEqual(rc, 0)
        self.assertEqual(counts, (2, 0, 1))
        self.assertIn('needs KVM (white box); no usable /dev/kvm', out)

    def test_skip_reasons_tallied(self):
        tap = ('1..3\n'
               'ok 1 /a # SKIP needs KVM\'s dirty ring; running under tcg\n'
               'ok 2 /b # SKIP needs KVM\'s dirty ring; running under tcg\n'
               'ok 3 /c # SKIP not root: no hugetlb pages\n' + GUEST)
        rc, counts, out = self.run_summary([entry('t', 'OK', tap)])
        self.assertEqual(rc, 0)
        self.assertEqual(counts, (0, 0, 3))
        self.assertRegex(out, r"\n +2  needs KVM's dirty ring; running "
                              r"under tcg\n +1  not root")

    def test_no_guest_fails_the_run(self):
        tap = '1..2\nok 1 /a # SKIP no guest\nok 2 /b\n'
        rc, counts, out = self.run_summary([entry('t', 'OK', tap)])
        self.assertEqual(rc, 1)
        self.assertEqual(counts, (1, 1, 1))
        self.assertIn('no test case ran a guest under qmig', out)
        rc, counts, _ = self.run_summary([entry('t', 'OK', tap)],
                                         '--no-guest-check')
        self.assertEqual(rc, 0)
        self.assertEqual(counts, (1, 0, 1))

    def test_qemu_guests_do_not_count(self):
        tap = ('1..1\nok 1 /a\n'
               '# qmig-guest-ran accel=tcg vmm=qemu count=2\n')
        rc, counts, _ = self.run_summary([entry('t', 'OK', tap)])
        self.assertEqual(rc, 1)
        self.assertEqual(counts, (1, 1, 0))

    def test_missing_log(self):
        rc, counts, _ = self.run_summary([], '--no-guest-check',
                                         logs=['/nonexistent/log.json'])
        self.assertEqual(rc, 1)
        self.assertEqual(counts, (0, 1, 0))


if __name__ == '__main__':
    SUMMARY = sys.argv.pop(1)
    unittest.main()
