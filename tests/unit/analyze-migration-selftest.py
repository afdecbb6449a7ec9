#!/usr/bin/env python3
#
# Self-test of scripts/analyze-migration: build small streams in the
# format of STREAM.md, run the analyzer on them and check what it prints.
#
# Usage: analyze-migration-selftest.py PATH/TO/analyze-migration
#
# SPDX-License-Identifier: GPL-2.0-or-later

import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

ANALYZER = None
PAGE = 4096


def be8(v):
    return struct.pack(">B", v)


def be16(v):
    return struct.pack(">H", v)


def be32(v):
    return struct.pack(">I", v)


def be64(v):
    return struct.pack(">Q", v)


def str8(s):
    return be8(len(s)) + s.encode()


def footer(section_id):
    return be8(0x7E) + be32(section_id)


def start_full(kind, section_id, idstr, instance, version):
    return be8(kind) + be32(section_id) + str8(idstr) + be32(instance) + \
        be32(version)


def header(machine="pc-qmig"):
    return be32(0x5145564D) + be32(3) + be8(0x07) + be32(len(machine)) + \
        machine.encode()


# RAM: two blocks; pages of every kind, CONTINUE, three chunks.
RAM_BLOCKS = [("pc.ram", 8 * PAGE), ("vga.vram", 2 * PAGE)]
PAGE_A = bytes(range(256)) * (PAGE // 256)


def xbzrle_delta():
    # 10 unchanged bytes, then 3 changed bytes "XYZ", then the rest same.
    return bytes([10, 3]) + b"XYZ"


def ram_sections(section_id=1):
    total = sum(length for _, length in RAM_BLOCKS)
    setup = be64(total | 0x04)
    for name, length in RAM_BLOCKS:
        setup += str8(name) + be64(length)
    setup += be64(0x10)
    part = be64(0 | 0x08) + str8("pc.ram") + PAGE_A          # normal
    part += be64(PAGE | 0x02 | 0x20) + be8(0)                 # zero, cont
    part += be64(2 * PAGE | 0x02 | 0x20) + be8(0)             # zero, cont
    part += be64(0 | 0x02) + str8("vga.vram") + be8(0)        # other block
    part += be64(0x200)                                       # multifd flush
    part += be64(0x10)
    delta = xbzrle_delta()
    end = be64(0 | 0x40) + str8("pc.ram") + be8(1) + be16(len(delta)) + \
        delta
    end += be64(3 * PAGE | 0x08 | 0x20) + b"\x11" * PAGE
    end += be64(0x10)
    return (start_full(0x01, section_id, "ram", 0, 4) + setup +
            footer(section_id) +
            be8(0x02) + be32(section_id) + part + footer(section_id) +
            be8(0x03) + be32(section_id) + end + footer(section_id))


# A device described in the vmdesc: scalars, a scalar array, a struct
# array, a buffer and a subsection.
DEVICE_DESC = {
    "name": "serial", "instance_id": 0, "vmsd_name": "serial",
    "version": 3,
    "fields": [
        {"name": "divider", "type": "uint16", "size": 2},
        {"name": "neg", "type": "int32", "size": 4},
        {"name": "on", "type": "bool", "size": 1},
        {"name": "regs", "array_len": 3, "type": "uint8", "size": 1},
        {"name": "queue", "index": 0, "type": "struct", "size": 4,
         "struct": {"vmsd_name": "q", "version": 1,
                    "fields": [{"name": "v", "type": "uint32",
                                "size": 4}]}},
        {"name": "queue", "index": 1, "type": "struct", "size": 4,
         "struct": {"vmsd_name": "q", "version": 1,
                    "fields": [{"name": "v", "type": "uint32",
                                "size": 4}]}},
        {"name": "fifo", "type": "buffer", "size": 4},
    ],
    "subsections": [
        {"vmsd_name": "serial/timeout", "version": 1,
         "fields": [{"name": "timeout", "type": "int64", "size": 8}]},
    ],
}


def device_section(section_id=2):
    data = be16(12) + struct.pack(">i", -5) + be8(1) + bytes([1, 2, 3])
    data += be32(7) + be32(8) + b"\xde\xad\xbe\xef"
    data += be8(0x05) + str8("serial/timeout") + be32(1) + be64(1000)
    return start_full(0x04, section_id, "serial", 0, 3) + data + \
        footer(section_id)


def opaque_section(section_id=3):
    """A section nobody describes (like an old-style save_state)."""
    return start_full(0x04, section_id, "mystery", 0, 1) + b"\x01" * 7 + \
        footer(section_id)


def vmdesc(devices):
    text = json.dumps({"page_size": PAGE, "devices": devices}).encode()
    return be8(0x06) + be32(len(text)) + text


def good_stream():
    return (header() + ram_sections() +
            be8(0x08) + be16(2) + be16(4) + be32(0x1234) +   # PING
            device_section() + opaque_section() + be8(0x00) +
            vmdesc([DEVICE_DESC]))


def caps_header(caps, prefix=b""):
    """The header with a configuration/capabilities subsection."""
    sub = be8(0x05) + str8("configuration/capabilities") + be32(1) + \
        be32(len(caps))
    for c in caps:
        sub += str8(c)
    return prefix + header() + sub


MAPPED_ALIGN = 1 << 20


def mapped_ram_stream(prefix=b"", bitmap_extra=0):
    """
    A mapped-ram save of one 8-page block: pages 0 and 3 present (page 3
    in the bitmap only through @bitmap_extra's bits too), then a device.
    Returns (file bytes, pages offset).
    """
    data = bytearray(caps_header(["mapped-ram"], prefix))
    data += start_full(0x01, 1, "ram", 0, 4)
    data += be64(8 * PAGE | 0x04) + str8("pc.ram") + be64(8 * PAGE)
    hdr_pos = len(data)
    bitmap_offset = hdr_pos + 28
    pages_offset = (bitmap_offset + 8 + MAPPED_ALIGN - 1) // \
        MAPPED_ALIGN * MAPPED_ALIGN
    data += be32(1) + be64(PAGE) + be64(bitmap_offset) + be64(pages_offset)
    data += bytes(pages_offset + 8 * PAGE - len(data))
    data[bitmap_offset:bitmap_offset + 8] = \
        struct.pack("<Q", 0b1001 | bitmap_extra)
    data[pages_offset:pages_offset + PAGE] = PAGE_A
    data[pages_offset + 3 * PAGE:pages_offset + 4 * PAGE] = b"\x22" * PAGE
    data += be64(0x10) + footer(1)
    data += be8(0x03) + be32(1) + be64(0x10) + footer(1)
    data += device_section() + be8(0x00) + vmdesc([DEVICE_DESC])
    return bytes(data), pages_offset


class AnalyzeMigrationTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def run_analyzer(self, data, *args):
        path = os.path.join(self.tmp.name, "stream")
        with open(path, "wb") as f:
            f.write(data)
        proc = subprocess.run([sys.executable, ANALYZER, "-f", path] +
                              list(args), capture_output=True, text=True,
                              timeout=60)
        return proc

    def decode(self, data, *args):
        proc = self.run_analyzer(data, *args)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def expect_error(self, data, offset, text):
        proc = self.run_analyzer(data)
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("offset %d " % offset, proc.stderr)
        self.assertIn(text, proc.stderr)

    def test_header_and_configuration(self):
        out = self.decode(good_stream())
        self.assertEqual(out["header"], {"magic": "QEVM", "version": 3})
        self.assertEqual(out["configuration"]["machine"], "pc-qmig")
        self.assertEqual(out["vmdescription"],
                         {"present": True, "devices": 1})

    def test_ram(self):
        ram = self.decode(good_stream())["ram (1)"]
        meta = ram["__section__"]
        self.assertEqual((meta["idstr"], meta["instance"], meta["version"]),
                         ("ram", 0, 4))
        self.assertEqual(meta["types"], ["start", "part", "end"])
        self.assertEqual(ram["blocks"], {"pc.ram": "0x%016x" % (8 * PAGE),
                                         "vga.vram": "0x%016x" % (2 * PAGE)})
        self.assertEqual(ram["pages"]["pc.ram"],
                         {"zero": 2, "normal": 2, "xbzrle": 1})
        self.assertEqual(ram["pages"]["vga.vram"],
                         {"zero": 1, "normal": 0, "xbzrle": 0})
        self.assertEqual(ram["total_pages"],
                         {"zero": 3, "normal": 2, "xbzrle": 1})
        self.assertEqual(ram["chunks"], 3)
        self.assertEqual(ram["multifd_flushes"], 1)

    def test_device_fields(self):
        dev = self.decode(good_stream())["serial (2)"]
        self.assertEqual(dev["__section__"]["vmsd_name"], "serial")
        self.assertEqual(dev["divider"], "0x000c")
        self.assertEqual(dev["neg"], "0xfffffffb (-5)")
        self.assertIs(dev["on"], True)
        self.assertEqual(dev["regs"], ["0x01", "0x02", "0x03"])
        self.assertEqual(dev["queue"], [{"v": "0x00000007"},
                                        {"v": "0x00000008"}])
        self.assertEqual(dev["fifo"], "de ad be ef")
        self.assertEqual(dev["serial/timeout"]["timeout"],
                         "0x00000000000003e8")

    def test_undescribed_section_and_command(self):
        out = self.decode(good_stream())
        self.assertEqual(out["mystery (3)"]["undecoded"], True)
        self.assertEqual(out["mystery (3)"]["size"], 7)
        self.assertEqual(out["commands"][0]["command"], "ping")
        self.assertEqual(out["commands"][0]["payload"], "00001234")

    def test_dump_desc(self):
        out = self.decode(good_stream(), "--dump", "desc")
        self.assertEqual(out["devices"][0]["vmsd_name"], "serial")
        self.assertEqual(out["page_size"], PAGE)

    def test_memory_and_extract(self):
        xdir = os.path.join(self.tmp.name, "x")
        out = self.decode(good_stream(), "-m", "-x", xdir)
        mem = out["ram (1)"]["memory"]
        self.assertEqual(mem["pc.ram (0x%016x)" % (3 * PAGE)],
                         ("11" * PAGE))
        with open(os.path.join(xdir, "pc.ram.ram"), "rb") as f:
            block = f.read()
        self.assertEqual(len(block), 8 * PAGE)
        expect = bytearray(PAGE_A)
        expect[10:13] = b"XYZ"          # the XBZRLE delta on page 0
        self.assertEqual(block[:PAGE], bytes(expect))
        self.assertEqual(block[PAGE:3 * PAGE], bytes(2 * PAGE))
        self.assertEqual(block[3 * PAGE:4 * PAGE], b"\x11" * PAGE)

    def test_no_vmdesc(self):
        data = header() + ram_sections() + opaque_section(2) + be8(0)
        proc = self.run_analyzer(data)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("no VMDESCRIPTION", proc.stderr)
        out = json.loads(proc.stdout)
        self.assertFalse(out["vmdescription"]["present"])
        self.assertEqual(out["ram (1)"]["total_pages"]["normal"], 2)

    def test_bad_magic(self):
        self.expect_error(b"QEVX" + good_stream()[4:], 0, "bad magic")

    def test_bad_version(self):
        self.expect_error(be32(0x5145564D) + be32(2), 4,
                          "unsupported stream version 2")

    def test_bad_footer(self):
        data = header() + start_full(0x04, 2, "serial", 0, 3)
        body = device_section()[len(start_full(0x04, 2, "serial", 0, 3)):]
        bad = data + body[:-5] + footer(9) + be8(0) + vmdesc([DEVICE_DESC])
        self.expect_error(bad, len(data) + len(body) - 5,
                          "footer for section 9 ends section 2")

    def test_truncated(self):
        data = header() + ram_sections()
        # START (17 bytes) and MEM_SIZE (40): the EOS record is cut short,
        # and the error points at its start.
        eos = len(header()) + 17 + 40
        self.assertEqual(data[eos:eos + 8], be64(0x10))
        self.expect_error(data[:eos + 3], eos,
                          "stream ends while reading a RAM record header")

    def test_page_outside_block(self):
        data = header() + start_full(0x01, 1, "ram", 0, 4)
        data += be64(PAGE | 0x04) + str8("pc.ram") + be64(PAGE)
        where = len(data)
        data += be64(PAGE | 0x02) + str8("pc.ram") + be8(0) + be64(0x10)
        data += footer(1) + be8(0)
        self.expect_error(data, where, "outside RAMBlock 'pc.ram'")

    def test_unknown_block(self):
        data = header() + start_full(0x01, 1, "ram", 0, 4)
        data += be64(PAGE | 0x04) + str8("pc.ram") + be64(PAGE)
        where = len(data)
        data += be64(0x02) + str8("nope") + be8(0) + be64(0x10)
        self.expect_error(data + footer(1) + be8(0), where,
                          "unknown RAMBlock 'nope'")

    def test_unknown_section_type(self):
        data = header()
        self.expect_error(data + be8(0x42), len(data),
                          "unknown section type 0x42")

    def test_mapped_ram(self):
        data, pages_offset = mapped_ram_stream()
        out = self.decode(data, "-m")
        self.assertEqual(out["configuration"]["capabilities"],
                         ["mapped-ram"])
        ram = out["ram (1)"]
        self.assertEqual(ram["pages"]["pc.ram"],
                         {"zero": 0, "normal": 2, "xbzrle": 0})
        mr = ram["mapped_ram"]["pc.ram"]
        self.assertEqual(mr["version"], 1)
        self.assertEqual(mr["pages_offset"], pages_offset)
        self.assertEqual(mr["present_pages"], 2)
        self.assertEqual(ram["memory"]["pc.ram (0x%016x)" % (3 * PAGE)],
                         "22" * PAGE)
        self.assertNotIn("pc.ram (0x%016x)" % PAGE, ram["memory"])
        # The device sections after the RAM pages are decoded too.
        self.assertEqual(out["serial (2)"]["divider"], "0x000c")

    def test_mapped_ram_offset(self):
        prefix = b"P" * 4096
        data, _ = mapped_ram_stream(prefix)
        out = self.decode(data, "--offset", "4096")
        self.assertEqual(out["ram (1)"]["mapped_ram"]["pc.ram"]
                         ["present_pages"], 2)

    def test_mapped_ram_bad(self):
        data, pages_offset = mapped_ram_stream()
        hdr = data.index(str8("pc.ram")) + 7 + 8
        self.expect_error(data[:hdr] + be32(2) + data[hdr + 4:], hdr,
                          "version 2")
        bad = data[:hdr + 12] + be64(len(data)) + data[hdr + 20:]
        self.expect_error(bad, hdr + 4, "outside the file")
        bad = data[:hdr + 20] + be64(len(data) - PAGE) + data[hdr + 28:]
        self.expect_error(bad, hdr + 12, "end past the stream")
        # A bitmap bit past the block's 8 pages.
        bad, _ = mapped_ram_stream(bitmap_extra=1 << 9)
        self.expect_error(bad, hdr + 28, "past the block's 8")
        # Cut inside the pages.
        self.expect_error(data[:pages_offset + PAGE], hdr + 12,
                          "end past the stream")

    def test_missing_subsection(self):
        body = device_section()
        # Drop the subsection: the footer comes where it was expected.
        sub = be8(0x05) + str8("serial/timeout") + be32(1) + be64(1000)
        cut = body.index(sub)
        data = header()
        bad = data + body[:cut] + footer(2) + be8(0) + vmdesc([DEVICE_DESC])
        self.expect_error(bad, len(data) + cut,
                          "subsection 'serial/timeout' not found")


def main():
    global ANALYZER
    if len(sys.argv) < 2:
        print("usage: %s PATH/TO/analyze-migration" % sys.argv[0],
              file=sys.stderr)
        return 2
    ANALYZER = sys.argv.pop(1)
    prog = unittest.main(exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
