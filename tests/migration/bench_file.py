# SPDX-License-Identifier: GPL-2.0-or-later
"""Save-to-file and restore-from-file scenarios of tests/migration/bench.

A VM with 4 GiB of incompressible RAM and no running CPU (qmig
`-accel qtest -S`, QEMU `-accel tcg -S`: the figures are the migration
code's, not a guest's) is saved to a file on a disk and restored from it
into a new process.  qmig uses mapped-ram (1 or N multifd channels,
optionally direct-io); QEMU 7.2, which has no mapped-ram, the stream
through `exec:cat > FILE` and `exec:cat FILE`.

The limits are measured in the same run on the same bytes: a plain copy
of the RAM file to a new file on the same disk (save), and of the saved
file into fresh memory (restore).  Before every restore and its limit,
the page cache is dropped (root only) so that both read the disk.
"""

import os
import subprocess
import time

import qmplib

RESTORE_RAM = 'memory-backend-memfd,id=ram0,size=%d'
UNLIMITED_BW = 100 << 30


def drop_caches():
    """Write back and drop the page cache; False where not allowed."""
    os.sync()
    try:
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write('3\n')
        return True
    except OSError:
        return False


def dd_copy(src, dst, direct_out=False, direct_in=False):
    """MiB/s of a plain dd copy of @src into a new file @dst."""
    size = os.path.getsize(src)
    cmd = ['dd', 'if=' + src, 'of=' + dst, 'bs=4M', 'status=none']
    if direct_out:
        cmd.append('oflag=direct')
    if direct_in:
        cmd.append('iflag=direct')
    t0 = time.monotonic()
    subprocess.run(cmd, check=True)
    dt = time.monotonic() - t0
    os.unlink(dst)
    return size / dt / (1 << 20)


class FileBench:
    """One save or restore run of a scenario (see bench's SCENARIOS)."""

    def __init__(self, bench, sc, binary, rundir):
        self.bench = bench
        self.sc = sc
        self.binary = binary
        self.qemu = os.path.basename(binary).startswith('qemu-system')
        self.rundir = rundir
        self.size = int(sc['mem'][:-1]) << {'M': 20, 'G': 30}[sc['mem'][-1]]
        self.path = os.path.join(bench.args.disk_dir,
                                 'save-%d.bin' % os.getpid())

    def vm_args(self, side):
        accel = 'tcg' if self.qemu else 'qtest'
        args = ['-accel', accel, '-S', '-m', self.sc['mem'],
                '-drive', 'file=%s,format=raw'
                % self.bench.guest_image('fill')]
        if side == 'src':
            backend = ('memory-backend-file,id=ram0,size=%d,mem-path=%s,'
                       'share=on' % (self.size,
                                     self.bench.prefilled_file(self.size)))
        else:
            backend = RESTORE_RAM % self.size
        return args + ['-object', backend, '-machine', 'memory-backend=ram0']

    def setup(self, vm):
        if self.qemu:
            return
        caps = [{'capability': 'mapped-ram', 'state': True}]
        if self.sc.get('multifd'):
            caps.append({'capability': 'multifd', 'state': True})
        vm.qmp.cmd('migrate-set-capabilities', capabilities=caps)
        if self.sc.get('multifd'):
            vm.qmp.cmd('migrate-set-parameters',
                       multifd_channels=self.sc['multifd'])
        if self.sc.get('direct'):
            vm.qmp.cmd('migrate-set-parameters', direct_io=True)

    def uri(self, saving):
        if not self.qemu:
            return 'file:' + self.path
        return ('exec:cat > %s' % self.path if saving
                else 'exec:cat %s' % self.path)

    def wait_completed(self, vm):
        deadline = time.monotonic() + self.bench.args.timeout
        while time.monotonic() < deadline:
            info = vm.qmp.cmd('query-migrate')
            status = info.get('status')
            if status == 'completed':
                return info
            if status in ('failed', 'cancelled'):
                raise qmplib.QMPError('migration %s: %s' % (
                    status, info.get('error-desc', '')))
            time.sleep(0.01)
        raise qmplib.QMPError('migration did not complete in %d s'
                              % self.bench.args.timeout)

    def timed(self, vm, command, saving):
        """Seconds from @command on @vm to its migration's completion."""
        t0 = time.monotonic()
        vm.qmp.cmd(command, uri=self.uri(saving))
        self.wait_completed(vm)
        return time.monotonic() - t0

    def save(self):
        """Save the source VM to self.path; seconds it took."""
        if os.path.exists(self.path):
            os.unlink(self.path)
        src = qmplib.VM(self.binary, self.rundir, 'src', self.vm_args('src'))
        try:
            src.qmp.cmd('migrate-set-parameters',
                        max_bandwidth=UNLIMITED_BW)
            self.setup(src)
            return self.timed(src, 'migrate', True)
        finally:
            src.quit()

    def restore(self):
        """Load self.path into a new VM; seconds it took."""
        dst = qmplib.VM(self.binary, self.rundir, 'dst',
                        self.vm_args('dst') + ['-incoming', 'defer'])
        try:
            self.setup(dst)
            return self.timed(dst, 'migrate-incoming', False)
        finally:
            dst.quit()

    def file_figures(self):
        st = os.stat(self.path)
        return {'file-bytes': st.st_size,
                'file-allocated-bytes': st.st_blocks * 512}

    def limit(self):
        """The plain copy of the same bytes (MiB/s): the RAM file to a new
        file on the disk (save), the saved file, read cold, into fresh
        memory (restore)."""
        direct = bool(self.sc.get('direct'))
        if self.sc['kind'] == 'save':
            return dd_copy(self.bench.prefilled_file(self.size),
                           self.path + '.copy', direct_out=direct)
        drop_caches()
        return dd_copy(self.path, os.path.join(self.bench.workdir,
                                               'fresh.bin'), direct_in=direct)

    def run(self):
        """Time the save or the restore, with the limit measured just
        before and just after it: the host backs memory that was just
        freed faster than memory it has to find, so either order alone
        favours one side.  The ratio is against their mean."""
        limits = []
        try:
            if self.sc['kind'] == 'save':
                limits.append(self.limit())
                secs = self.save()
                res = self.file_figures()
            else:
                self.save()
                res = self.file_figures()
                limits.append(self.limit())
                res['cold-cache'] = drop_caches()
                secs = self.restore()
            limits.append(self.limit())
        finally:
            if os.path.exists(self.path):
                os.unlink(self.path)
        limit = sum(limits) / len(limits)
        res['copy-before-after-MiB/s'] = '%.0f/%.0f' % tuple(limits)
        mibs = self.size / secs / (1 << 20)
        res.update({'total-time-ms': round(secs * 1000),
                    'throughput-MiB/s': round(mibs, 1),
                    'copy-MiB/s': round(limit, 1),
                    'ratio-vs-copy': round(mibs / limit, 3)})
        return res
