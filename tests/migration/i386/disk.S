/*
 * disk: the block-migration guest.  Needs a qmig-disk at port 0x510
 * (include/hw/block/qmig-disk.h) on a zero-filled image, e.g.
 *   -drive file=disk.img,format=raw
 *   -drive file=data.img,format=raw,if=none,id=d0 -device qmig-disk,drive=d0
 *
 * Forever: gen += 1; for each sector s of the first N sectors of the disk
 * (N = the disk size in sectors, capped at 8192, i.e. 4 MiB), fill a
 * 512-byte buffer with le32 gen, le32 s, then 126 le32 words each equal
 * to gen ^ (s << 16) ^ 0x5a5a5a5a, and write it to sector s, in ascending
 * order.  64 sectors go per write command (port accesses are VM exits)
 * and the filler is one `rep stosl': under nested virtualisation every
 * guest instruction can cost a microsecond, and a per-byte pattern made
 * a pass take minutes.  Then one stamp pass exactly like stamp.S (add 1 to
 * the first byte of every 4 KiB page of [1 MiB, 100 MiB)), then write 'D'
 * to COM1.
 *
 * Any stopped, consistent copy of the disk therefore satisfies: walking
 * sectors 0..N-1 upward, each sector's gen equals the previous one's
 * except at most one place where it is exactly one less (mod 2^32); s and
 * the filler words match (a torn sector mixes two gens).  A sector never
 * written yet is all zeros and counts as gen 0.  tests/qtest/disk-check.c (and scripts/disk-check)
 * checks it; the RAM keeps the stamp invariant (tests/qtest/stamp-check.c)
 * at the same time.
 *
 * RAM words, zeroed at boot: the number of complete passes at
 * STAMP_PASSES (as stamp.S) and the current gen at DISK_GEN.
 * If the device reports an error (no qmig-disk, empty disk, read-only
 * drive), the guest writes 'E' to COM1 and halts.
 *
 * QEMU cannot run this guest: qmig-disk exists only in qmig (and QEMU has
 * fw_cfg at 0x510).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

    .equ    STAMP_START, 0x00100000
    .equ    STAMP_END, 0x06400000
    .equ    PAGE_SIZE, 4096
    .equ    STAMP_PASSES, 0x00006000
    .equ    DISK_GEN, 0x00006004
    .equ    DISK_BUF, 0x00008000        /* CHUNK_SECTORS * 512 bytes */
    .equ    SECTOR_SIZE, 512
    .equ    MAX_SECTORS, 8192
    /* Sectors per write command: each port access is a VM exit. */
    .equ    CHUNK_SECTORS, 64
    .equ    FILL_MAGIC, 0x5a5a5a5a

    .equ    DISK_IOBASE, 0x510
    .equ    DISK_LBA, DISK_IOBASE + 0
    .equ    DISK_COUNT, DISK_IOBASE + 4
    .equ    DISK_ADDR, DISK_IOBASE + 8
    .equ    DISK_CMD, DISK_IOBASE + 12
    .equ    DISK_STATUS, DISK_IOBASE + 16
    .equ    DISK_SIZE, DISK_IOBASE + 20
    .equ    DISK_CMD_WRITE, 2

    .include "pmode.inc"

pm_start:
    movl    $0, STAMP_PASSES
    movl    $0, DISK_GEN
    /* %ebp = N = min(disk sectors, MAX_SECTORS); no disk reads as ~0. */
    movw    $DISK_SIZE, %dx
    inl     %dx, %eax
    cmpl    $MAX_SECTORS, %eax
    jbe     1f
    movl    $MAX_SECTORS, %eax
1:
    testl   %eax, %eax
    jz      error
    movl    %eax, %ebp
    movw    $DISK_ADDR, %dx
    movl    $DISK_BUF, %eax
    outl    %eax, %dx

pass:
    incl    DISK_GEN
    xorl    %esi, %esi                  /* first sector of the chunk */
chunk:
    /* count = min(CHUNK_SECTORS, N - s), kept on the stack */
    movl    %ebp, %eax
    subl    %esi, %eax
    cmpl    $CHUNK_SECTORS, %eax
    jbe     1f
    movl    $CHUNK_SECTORS, %eax
1:
    pushl   %eax
    addl    %esi, %eax
    pushl   %eax                        /* end sector */
    movl    DISK_GEN, %ebx
    movl    $DISK_BUF, %edi
    movl    %esi, %edx                  /* sector t */
fill:
    movl    %ebx, (%edi)
    movl    %edx, 4(%edi)
    addl    $8, %edi
    movl    %edx, %eax                  /* filler: gen ^ (t << 16) ^ magic */
    shll    $16, %eax
    xorl    %ebx, %eax
    xorl    $FILL_MAGIC, %eax
    movl    $(SECTOR_SIZE - 8) / 4, %ecx
    rep stosl
    incl    %edx
    cmpl    (%esp), %edx
    jb      fill
    popl    %eax                        /* drop the end sector */

    movw    $DISK_LBA, %dx
    movl    %esi, %eax
    outl    %eax, %dx
    movw    $DISK_COUNT, %dx
    popl    %eax
    addl    %eax, %esi
    outl    %eax, %dx
    movw    $DISK_CMD, %dx
    movl    $DISK_CMD_WRITE, %eax
    outl    %eax, %dx
    movw    $DISK_STATUS, %dx
    inl     %dx, %eax
    testl   %eax, %eax
    jnz     error
    cmpl    %ebp, %esi
    jb      chunk

    movl    $STAMP_START, %eax
3:
    incb    (%eax)
    addl    $PAGE_SIZE, %eax
    cmpl    $STAMP_END, %eax
    jb      3b
    incl    STAMP_PASSES
    movw    $COM1, %dx
    movb    $'D', %al
    outb    %al, %dx
    jmp     pass

error:
    movw    $COM1, %dx
    movb    $'E', %al
    outb    %al, %dx
4:
    hlt
    jmp     4b

    .org    510
    .byte   0x55, 0xaa
