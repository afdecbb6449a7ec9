#!/usr/bin/env python3
#
# Assemble one boot-sector test guest and check the result.
#
# usage: build-guest.py AS LD SOURCE OUTPUT
#
# Runs `AS --32` and `LD -m elf_i386 --oformat binary -Ttext 0x7c00`, then
# refuses an image that is not exactly 512 bytes ending 0x55 0xAA: a guest
# that grew past the sector would otherwise be silently truncated by the
# loader and fail in a confusing way at run time.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import subprocess
import sys


def main():
    if len(sys.argv) != 5:
        sys.exit('usage: build-guest.py AS LD SOURCE OUTPUT')
    as_prog, ld_prog, source, output = sys.argv[1:]
    obj = output + '.o'
    incdir = os.path.dirname(os.path.abspath(source))
    subprocess.run([as_prog, '--32', '-I', incdir, '-o', obj, source],
                   check=True)
    subprocess.run([ld_prog, '-m', 'elf_i386', '--oformat', 'binary',
                    '-Ttext', '0x7c00', '-e', '0', '-o', output, obj],
                   check=True)
    os.unlink(obj)
    with open(output, 'rb') as f:
        image = f.read()
    if len(image) != 512:
        os.unlink(output)
        sys.exit('%s: image is %d bytes, a boot sector must be 512'
                 % (source, len(image)))
    if image[510:] != b'\x55\xaa':
        os.unlink(output)
        sys.exit('%s: boot signature 0x55 0xAA missing at offset 510'
                 % source)


if __name__ == '__main__':
    main()
