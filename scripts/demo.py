#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot the stamp guest under qmig and show it running.

The stamp guest adds 1 to the first byte of every 4 KiB page in
[1 MiB, 100 MiB) forever and prints 'B' on COM1 after each pass.  The demo
boots it under KVM, shows passes arriving, stops it, saves its memory with
QMP pmemsave and checks the stamp invariant, resumes it and quits.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmplib import VM, stamp_check  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def progress(label, done, total, width=40):
    filled = int(width * done / total) if total else width
    sys.stdout.write('\r%-22s [%s%s] %3d%%' % (label, '#' * filled,
                                              '.' * (width - filled),
                                              100 * done // max(total, 1)))
    sys.stdout.flush()


def wait_passes(vm, count, timeout=60.0):
    start = time.monotonic()
    while True:
        n = vm.serial().count(b'B')
        progress('guest passes', min(n, count), count)
        if n >= count:
            print()
            return n, time.monotonic() - start
        if time.monotonic() - start > timeout:
            print()
            raise SystemExit('demo: only %d passes in %.0f s' % (n, timeout))
        if vm.proc.poll() is not None:
            raise SystemExit('demo: qmig exited: %s' % vm.read_log())
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--build', default=os.path.join(TOP, 'build'))
    ap.add_argument('--mem', default='150M')
    ap.add_argument('--passes', type=int, default=20)
    args = ap.parse_args()

    binary = os.path.join(args.build, 'qmig')
    image = os.path.join(args.build, 'tests/migration/i386/stamp.img')
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        raise SystemExit('demo: /dev/kvm is not usable here; qmig needs KVM')

    with tempfile.TemporaryDirectory(prefix='qmig-demo-') as work:
        print('booting the stamp guest: %s -m %s' % (binary, args.mem))
        t0 = time.monotonic()
        vm = VM(binary, work, 'src', ['-accel', 'kvm', '-m', args.mem,
                                      '-drive', 'file=%s,format=raw' % image])
        try:
            status = vm.qmp.cmd('query-status')
            print('query-status: %s' % status['status'])
            n, secs = wait_passes(vm, args.passes)
            boot = time.monotonic() - t0
            vm.qmp.cmd('stop')
            vm.qmp.event_wait('STOP')
            dump = os.path.join(work, 'mem.bin')
            vm.qmp.cmd('pmemsave', val=1 << 20, size=99 << 20, filename=dump)
            with open(dump, 'rb') as f:
                data = f.read()
            bad = stamp_check(data)
            vm.qmp.cmd('cont')
            vm.qmp.event_wait('RESUME')
            print('stamp invariant on the stopped guest: %s' %
                  ('holds' if bad is None else 'BROKEN: ' + bad))
            print('figures: %d passes over 99 MiB in %.2f s '
                  '(%.0f MiB/s of guest page writes), %.2f s from start' %
                  (n, secs, n * 99 / secs, boot))
            if bad is not None:
                return 1
        finally:
            vm.quit()
    print('live migration of this guest arrives with precopy (issue 3).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
