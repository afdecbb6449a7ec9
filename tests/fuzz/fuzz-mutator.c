/*
 * A structure-aware mutator for fuzz-loadvm (LLVMFuzzerCustomMutator).
 *
 * libFuzzer's byte-level mutations rarely keep a stream's framing
 * intact past the first few sections: a byte inserted into a section
 * shifts everything after it, and the loader stops at the first bad
 * section.  This mutator cuts the stream (after byte 0, the capability
 * mask) into its header (magic, version, configuration) and its records
 * (a SECTION_START/FULL with its header, payload and footer; a
 * SECTION_PART/END; a COMMAND with its payload; EOF and what follows),
 * finding each section's end by its footer (0x7e and its section id),
 * and then either mutates one record's payload only (fixing a COMMAND's
 * length), or duplicates, deletes or swaps whole records, or flips a
 * capability bit.  A third of the time, or when the input does not
 * parse, it leaves the work to libFuzzer's own mutations, so malformed
 * framing is explored too.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/savevm.h"
#include "fuzz-common.h"

#define FUZZ_MAX_RECORDS    256
#define FUZZ_PAYLOAD_SLACK  256

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed);

typedef struct FuzzRecord {
    size_t start;       /* offset of the type byte, in the stream */
    size_t payload;     /* offset of the payload */
    size_t payload_len;
    size_t end;         /* one past the footer */
    bool command;       /* a COMMAND: be16 length before the payload */
} FuzzRecord;

typedef struct FuzzStream {
    const uint8_t *s;
    size_t len;
    size_t header_end;  /* magic, version, configuration */
    FuzzRecord rec[FUZZ_MAX_RECORDS];
    int nr;
    size_t tail;        /* unparsed rest (EOF, vmdesc) from here */
} FuzzStream;

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* The footer of section @id at or after @from, or @len if none. */
static size_t fuzz_find_footer(const uint8_t *s, size_t len, size_t from,
                               uint32_t id)
{
    for (size_t p = from; p + 5 <= len; p++) {
        if (s[p] == QEMU_VM_SECTION_FOOTER && be32_at(s + p + 1) == id) {
            return p;
        }
    }
    return len;
}

/* One record at @p; false at EOF, an unknown type or a cut record. */
static bool fuzz_parse_record(FuzzStream *fs, size_t p, FuzzRecord *r)
{
    const uint8_t *s = fs->s;
    size_t len = fs->len, h, foot;
    uint32_t id;

    r->start = p;
    r->command = false;
    switch (s[p]) {
    case QEMU_VM_SECTION_START:
    case QEMU_VM_SECTION_FULL:
        if (p + 6 > len || p + 6 + s[p + 5] + 8 > len) {
            return false;
        }
        h = p + 6 + s[p + 5] + 8;
        break;
    case QEMU_VM_SECTION_PART:
    case QEMU_VM_SECTION_END:
        if (p + 5 > len) {
            return false;
        }
        h = p + 5;
        break;
    case QEMU_VM_COMMAND:
        if (p + 5 > len || p + 5 + (s[p + 3] << 8 | s[p + 4]) > len) {
            return false;
        }
        r->command = true;
        r->payload = p + 5;
        r->payload_len = s[p + 3] << 8 | s[p + 4];
        r->end = r->payload + r->payload_len;
        return true;
    default:
        return false;
    }
    id = be32_at(s + p + 1);
    foot = fuzz_find_footer(s, len, h, id);
    if (foot == len) {
        return false;
    }
    r->payload = h;
    r->payload_len = foot - h;
    r->end = foot + 5;
    return true;
}

static bool fuzz_parse(FuzzStream *fs, const uint8_t *s, size_t len)
{
    size_t p = 8;

    fs->s = s;
    fs->len = len;
    fs->nr = 0;
    if (len < 8 || be32_at(s) != QEMU_VM_FILE_MAGIC) {
        return false;
    }
    if (p + 5 <= len && s[p] == QEMU_VM_CONFIGURATION) {
        p += 5 + be32_at(s + p + 1);
        if (p > len) {
            return false;
        }
    }
    fs->header_end = p;
    while (p < len && fs->nr < FUZZ_MAX_RECORDS &&
           fuzz_parse_record(fs, p, &fs->rec[fs->nr])) {
        p = fs->rec[fs->nr++].end;
    }
    fs->tail = p;
    return fs->nr > 0;
}

static uint32_t fuzz_rand(uint32_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

static void fuzz_put(GByteArray *out, const uint8_t *s, size_t a, size_t b)
{
    g_byte_array_append(out, s + a, b - a);
}

/* Record @r with its payload mutated by libFuzzer. */
static void fuzz_put_mutated(GByteArray *out, const FuzzStream *fs,
                             const FuzzRecord *r)
{
    size_t room = r->payload_len + FUZZ_PAYLOAD_SLACK;
    g_autofree uint8_t *buf = g_malloc(room);
    size_t n;

    memcpy(buf, fs->s + r->payload, r->payload_len);
    n = LLVMFuzzerMutate(buf, r->payload_len, room);
    if (r->command) {
        uint8_t hdr[5];

        n = MIN(n, 0xffff);
        memcpy(hdr, fs->s + r->start, 3);
        hdr[3] = n >> 8;
        hdr[4] = n;
        g_byte_array_append(out, hdr, sizeof(hdr));
        g_byte_array_append(out, buf, n);
        return;
    }
    fuzz_put(out, fs->s, r->start, r->payload);
    g_byte_array_append(out, buf, n);
    fuzz_put(out, fs->s, r->payload + r->payload_len, r->end);
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed)
{
    g_autofree FuzzStream *fs = g_new(FuzzStream, 1);
    g_autoptr(GByteArray) out = NULL;
    uint32_t rnd = seed | 1;
    unsigned op = fuzz_rand(&rnd) % 9;
    int a, b;

    if (op < 3 || size < 2 || !fuzz_parse(fs, data + 1, size - 1)) {
        return LLVMFuzzerMutate(data, size, max_size);
    }
    if (op == 8) {
        data[0] ^= 1u << (fuzz_rand(&rnd) % 8);    /* a capability */
        return size;
    }
    a = fuzz_rand(&rnd) % fs->nr;
    b = fuzz_rand(&rnd) % fs->nr;
    out = g_byte_array_sized_new(size + FUZZ_PAYLOAD_SLACK);
    g_byte_array_append(out, data, 1);
    fuzz_put(out, fs->s, 0, fs->header_end);
    for (int i = 0; i < fs->nr; i++) {
        /* 3, 4: mutate a's payload; 5: duplicate a; 6: delete a; 7: swap */
        int src = op == 7 && i == a ? b : op == 7 && i == b ? a : i;
        const FuzzRecord *r = &fs->rec[src];

        if (op <= 4 && i == a) {
            fuzz_put_mutated(out, fs, r);
        } else if (!(op == 6 && i == a)) {
            fuzz_put(out, fs->s, r->start, r->end);
        }
        if (op == 5 && i == a) {
            fuzz_put(out, fs->s, r->start, r->end);
        }
    }
    fuzz_put(out, fs->s, fs->tail, fs->len);
    if (out->len > max_size) {
        return LLVMFuzzerMutate(data, size, max_size);
    }
    memcpy(data, out->data, out->len);
    return out->len;
}
