#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The main job: live-migrate the stamp guest between two qmig processes.

The stamp guest adds 1 to the first byte of every 4 KiB page in
[1 MiB, 100 MiB) forever and prints 'B' on COM1 after each pass, counting
passes at 0x6000.  The demo boots it in a source qmig (under KVM where
/dev/kvm is usable, else under the software accelerator tcg, or as
--accel says), starts a destination qmig with -incoming defer, migrates
the running guest over a unix socket while showing progress from
query-migrate, then checks the
destination: its guest runs on, its pass count continued from the
source's (CPU state moved, not rebooted), and its memory satisfies the
stamp invariant.  It ends with the figures: total time, downtime,
throughput.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmplib import VM, default_accel, stamp_check  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSES_ADDR = 0x6000


_last_bar = [None]


def bar(label, frac, width=40):
    """Redraw the progress line when it changes (a line per 10% when
    stdout is not a terminal, so logs stay readable)."""
    frac = max(0.0, min(1.0, frac))
    pct = int(frac * 100)
    key = (label, pct if sys.stdout.isatty() else pct // 10)
    if key == _last_bar[0]:
        return
    _last_bar[0] = key
    filled = int(width * frac)
    line = '%-24s [%s%s] %3d%%' % (label, '#' * filled,
                                   '.' * (width - filled), pct)
    if sys.stdout.isatty():
        sys.stdout.write('\r' + line)
    else:
        sys.stdout.write(line + '\n')
    sys.stdout.flush()


def read_u32(vm, work, addr, name):
    path = os.path.join(work, name)
    vm.qmp.cmd('pmemsave', val=addr, size=4, filename=path)
    with open(path, 'rb') as f:
        return int.from_bytes(f.read(), 'little')


def wait_passes(vm, count, timeout=60.0):
    deadline = time.monotonic() + timeout
    while vm.serial().count(b'B') < count:
        if time.monotonic() > deadline or vm.proc.poll() is not None:
            raise SystemExit('demo: the guest did not run: %s' % vm.read_log())
        time.sleep(0.02)


def migrate(src, uri):
    src.qmp.cmd('migrate', uri=uri)
    while True:
        info = src.qmp.cmd('query-migrate')
        status = info.get('status')
        ram = info.get('ram', {})
        if ram.get('total'):
            done = ram['transferred'] / max(ram['transferred'] +
                                            ram['remaining'], 1)
            bar('migrating (%s)' % status, done)
        if status in ('completed', 'failed', 'cancelled'):
            if status == 'completed':
                bar('migrating (completed)', 1.0)
            if sys.stdout.isatty():
                print()
            return info
        time.sleep(0.02)


def check_destination(dst, work, src_passes):
    wait_passes(dst, 3)
    dst_passes = read_u32(dst, work, PASSES_ADDR, 'dst-passes')
    dst.qmp.cmd('stop')
    dump = os.path.join(work, 'dst.bin')
    dst.qmp.cmd('pmemsave', val=1 << 20, size=99 << 20, filename=dump)
    with open(dump, 'rb') as f:
        bad = stamp_check(f.read())
    print('destination: guest ran %d more passes (count %d -> %d)' %
          (dst_passes - src_passes, src_passes, dst_passes))
    print('stamp invariant on the destination: %s' %
          ('holds' if bad is None else 'BROKEN: ' + bad))
    return bad is None and dst_passes > src_passes


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--build', default=os.path.join(TOP, 'build'))
    ap.add_argument('--mem', default='150M')
    ap.add_argument('--downtime-limit', type=int, default=300)
    ap.add_argument('--accel', choices=['kvm', 'tcg'],
                    help='accelerator of both VMs (default: kvm where '
                    '/dev/kvm is usable, else tcg)')
    args = ap.parse_args()

    binary = os.path.join(args.build, 'qmig')
    image = os.path.join(args.build, 'tests/migration/i386/stamp.img')
    accel, why = default_accel()
    if args.accel:
        accel, why = args.accel, '--accel'
    print('accelerator: %s (%s)' % (accel, why))

    common = ['-accel', accel, '-m', args.mem,
              '-drive', 'file=%s,format=raw' % image]
    with tempfile.TemporaryDirectory(prefix='qmig-demo-') as work:
        print('source:      %s %s' % (binary, ' '.join(common)))
        src = VM(binary, work, 'src', common)
        dst = VM(binary, work, 'dst', common + ['-incoming', 'defer'])
        try:
            wait_passes(src, 5)
            print('source guest running: %d passes so far' %
                  src.serial().count(b'B'))
            uri = 'unix:' + os.path.join(work, 'migration.sock')
            dst.qmp.cmd('migrate-incoming', uri=uri)
            src.qmp.cmd('migrate-set-parameters',
                        **{'max-bandwidth': 64 << 30,
                           'downtime-limit': args.downtime_limit})
            info = migrate(src, uri)
            if info['status'] != 'completed':
                print('migration %s: %s' % (info['status'],
                                            info.get('error-desc', '')))
                return 1
            src_passes = read_u32(src, work, PASSES_ADDR, 'src-passes')
            ok = check_destination(dst, work, src_passes)
            ram = info['ram']
            secs = info['total-time'] / 1000.0
            print('figures: total %d ms, downtime %d ms, setup %d ms, '
                  '%.1f MiB sent, %.0f MiB/s, %d dirty syncs' %
                  (info['total-time'], info['downtime'], info['setup-time'],
                   ram['transferred'] / 2**20,
                   ram['transferred'] / 2**20 / max(secs, 1e-3),
                   ram['dirty-sync-count']))
            return 0 if ok else 1
        finally:
            src.quit()
            dst.quit()


if __name__ == '__main__':
    sys.exit(main())
