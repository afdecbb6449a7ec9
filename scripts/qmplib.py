# SPDX-License-Identifier: GPL-2.0-or-later
"""A small QMP client and qmig process helper for the demo and benchmarks.

Standard library only, so the README's commands need nothing from PyPI.
"""

import json
import os
import socket
import subprocess
import time


class QMPError(Exception):
    pass


class QMP:
    """One QMP connection: greeting, qmp_capabilities, commands, events."""

    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise QMPError('cannot connect to QMP socket %s' % path)
                time.sleep(0.02)
        self.file = self.sock.makefile('rb')
        self.events = []
        self.greeting = self._read()
        if 'QMP' not in self.greeting:
            raise QMPError('bad greeting: %r' % self.greeting)
        self.cmd('qmp_capabilities')

    def _read(self):
        line = self.file.readline()
        if not line:
            raise QMPError('QMP connection closed')
        return json.loads(line)

    def cmd_raw(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = {k.replace('_', '-'): v for k, v in args.items()}
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            resp = self._read()
            if 'event' in resp:
                self.events.append(resp)
                continue
            return resp

    def cmd(self, name, **args):
        resp = self.cmd_raw(name, **args)
        if 'error' in resp:
            raise QMPError('%s: %s' % (name, resp['error'].get('desc')))
        return resp['return']

    def event_wait(self, name, timeout=60.0):
        for i, ev in enumerate(self.events):
            if ev['event'] == name:
                return self.events.pop(i)
        self.sock.settimeout(timeout)
        try:
            while True:
                resp = self._read()
                if resp.get('event') == name:
                    return resp
                if 'event' in resp:
                    self.events.append(resp)
        finally:
            self.sock.settimeout(None)

    def close(self):
        self.file.close()
        self.sock.close()


class VM:
    """A qmig (or QEMU) process with a QMP socket in a work directory."""

    def __init__(self, binary, workdir, name, args):
        self.workdir = workdir
        self.qmp_path = os.path.join(workdir, name + '.qmp')
        self.serial_path = os.path.join(workdir, name + '.serial')
        self.log_path = os.path.join(workdir, name + '.log')
        for p in (self.qmp_path, self.serial_path):
            if os.path.exists(p):
                os.unlink(p)
        cmd = [binary, '-display', 'none', '-nodefaults',
               '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
               '-serial', 'file:' + self.serial_path] + args
        self.log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        try:
            self.qmp = QMP(self.qmp_path)
        except QMPError:
            self.proc.kill()
            self.proc.wait()
            raise QMPError('%s did not start: %s' % (binary, self.read_log()))

    def read_log(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def serial(self):
        try:
            with open(self.serial_path, 'rb') as f:
                return f.read()
        except FileNotFoundError:
            return b''

    def quit(self):
        try:
            self.qmp.cmd('quit')
        except (QMPError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def kvm_usable():
    """Can this process open /dev/kvm read-write (what -accel kvm needs)?"""
    try:
        os.close(os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC))
        return True
    except OSError:
        return False


def default_accel():
    """The accelerator the demo and the benchmark use unless told:
    (accel, why), kvm where /dev/kvm is usable, else the software one."""
    if kvm_usable():
        return 'kvm', '/dev/kvm is usable'
    return 'tcg', 'no usable /dev/kvm'


def stamp_check(data, base=1 << 20, page=4096):
    """The stamp invariant on a memory dump starting at @base: walking the
    pages upward, each page's first byte equals the previous page's except
    at most one place where it is exactly one less (mod 256).  Returns
    None when it holds, else a description of the first violation."""
    steps = 0
    prev = data[0]
    for off in range(page, len(data), page):
        cur = data[off]
        if cur == prev:
            continue
        if cur == (prev - 1) % 256 and steps == 0:
            steps = 1
            prev = cur
            continue
        return ('page at 0x%x holds %d after %d (%s)' %
                (base + off, cur, prev,
                 'second step' if steps else 'not one less'))
    return None
