#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Sum the test cases of meson's testlog.json files into one closing line,

    N passed, N failed, N skipped

counting TAP test cases (the "ok" / "not ok" lines glib's test programs
print), not test executables, with the skip reasons and their counts
above it.  Exit status 1 on any failure.

An executable counts as:
  - its TAP cases, when it printed some; a case its plan announced but
    that never reported (a crash, a timeout) is a failed case, and so is
    an executable meson saw fail although every case it printed passed;
  - one case otherwise: passed, skipped (exit status 77) or failed by
    meson's verdict, so a program that dies before any TAP output still
    counts as at least one failure.

Guests must have run: libqtest ends every qtest program's output with
"# qmig-guest-ran accel=ACCEL vmm=VMM count=N" for the VMs whose guest
it saw produce output (see qtest_note_guest_ran in
tests/qtest/libqtest.h).  Without one for qmig, the run fails even when
every case skipped or passed: a suite in which no guest executed has not
tested migration.  --no-guest-check drops that rule (logs of unit tests
alone).
"""

import argparse
import collections
import json
import re
import sys

TAP_RESULT = re.compile(r'^(not )?ok\b\s*(\d+)?\s*(.*?)'
                        r'(?:\s*#\s*(SKIP|TODO)\b\s*(.*))?$')
TAP_PLAN = re.compile(r'^1\.\.(\d+)\s*(?:#\s*(?:SKIP\b)?\s*(.*))?$',
                      re.IGNORECASE)
GUEST_RAN = re.compile(r'^# qmig-guest-ran\s+(.*)$')
PASSED_RESULTS = ('OK', 'EXPECTEDFAIL')


class Summary:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.skip_reasons = collections.Counter()
        self.failures = []          # "test: case" strings
        self.guests = collections.Counter()     # (vmm, accel) -> VMs

    def add_test(self, name, result, output):
        """One executable's entry: @result is meson's verdict."""
        seen = 0
        failed_before = self.failed
        planned = None
        plan_skip = None
        bail = None

        for line in output.splitlines():
            line = line.rstrip('\r')
            m = GUEST_RAN.match(line)
            if m:
                self.add_guest(m.group(1))
                continue
            m = TAP_PLAN.match(line)
            if m:
                planned = int(m.group(1))
                if planned == 0:
                    plan_skip = m.group(2) or 'no cases (1..0)'
                continue
            if line.startswith('Bail out!'):
                # The program gave up: its unreported cases fail below.
                bail = bail or line
                continue
            m = TAP_RESULT.match(line)
            if not m:
                continue
            seen += 1
            not_ok, _num, case, directive, reason = m.groups()
            directive = (directive or '').upper()
            case = case or '#%d' % seen
            if directive == 'SKIP':
                self.skip(reason or 'no reason given')
            elif directive == 'TODO':
                # Expected to fail: not counted against the run.
                if not_ok:
                    self.skip('TODO: ' + (reason or 'no reason given'))
                else:
                    self.passed += 1
            elif not_ok:
                self.fail(name, case)
            else:
                self.passed += 1

        why = bail or result
        if seen == 0 and not planned:
            if plan_skip is not None or (result == 'SKIP' and not bail):
                self.skip(plan_skip or skip_line(output) or
                          '%s: skipped (exit status 77)' % name)
            elif result in PASSED_RESULTS and not bail:
                self.passed += 1
            else:
                self.fail(name, '%s, without TAP results' % why)
            return
        if planned is not None and seen < planned:
            self.fail(name, '%d of %d cases never reported (%s)' %
                      (planned - seen, planned, why), planned - seen)
        if ((bail or result not in PASSED_RESULTS + ('SKIP',)) and
                self.failed == failed_before):
            self.fail(name, 'the executable: %s' % why)

    def add_guest(self, text):
        fields = dict(f.split('=', 1) for f in text.split() if '=' in f)
        try:
            count = int(fields.get('count', '1'))
        except ValueError:
            count = 0
        if count > 0:
            key = (fields.get('vmm', '?'), fields.get('accel', '?'))
            self.guests[key] += count

    def skip(self, reason):
        self.skipped += 1
        self.skip_reasons[reason.strip()] += 1

    def fail(self, name, case, n=1):
        self.failed += n
        self.failures.append('%s: %s' % (name, case))


def skip_line(output):
    """The reason a non-TAP program printed before exiting with 77."""
    for line in output.splitlines():
        if line.startswith('SKIP'):
            return line[4:].lstrip(':').strip()
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('logs', nargs='+', help="meson's testlog .json files")
    ap.add_argument('--no-guest-check', action='store_true',
                    help='do not require a qmig guest to have run')
    ap.add_argument('--top', type=int, default=10,
                    help='how many skip reasons to list (default 10)')
    args = ap.parse_args()

    s = Summary()
    for path in args.logs:
        try:
            with open(path, encoding='utf-8', errors='replace') as f:
                for line in f:
                    if not line.strip():
                        continue
                    entry = json.loads(line)
                    output = entry.get('stdout') or ''
                    if entry.get('stderr'):
                        output += '\n' + entry['stderr']
                    s.add_test(entry.get('name', '?'),
                               entry.get('result', 'ERROR'), output)
        except FileNotFoundError:
            print('test-summary: missing test log %s' % path)
            s.fail(path, 'missing test log')

    if s.skip_reasons:
        print('skipped cases by reason (top %d of %d):' %
              (min(args.top, len(s.skip_reasons)), len(s.skip_reasons)))
        for reason, n in s.skip_reasons.most_common(args.top):
            print('  %5d  %s' % (n, reason))
    if s.failures:
        print('failed cases:')
        for f in s.failures[:50]:
            print('  ' + f)
        if len(s.failures) > 50:
            print('  ... and %d more' % (len(s.failures) - 50))
    if s.guests:
        print('guests ran: ' + ', '.join(
            '%s under %s (%d VMs)' % (vmm, accel, n)
            for (vmm, accel), n in sorted(s.guests.items())))
    if not args.no_guest_check and not any(
            vmm == 'qmig' for vmm, _accel in s.guests):
        print('test-summary: FAILED: no test case ran a guest under qmig '
              '(no "# qmig-guest-ran ... vmm=qmig" line in any test '
              'output): every guest case skipped or failed before its '
              'guest printed anything, so migration was not tested')
        s.fail('test-summary', 'no guest ran')
    print('%d passed, %d failed, %d skipped' % (s.passed, s.failed,
                                                s.skipped))
    return 1 if s.failed else 0


if __name__ == '__main__':
    sys.exit(main())
