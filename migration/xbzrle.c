/*
 * XBZRLE page encoding (format in xbzrle.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "xbzrle.h"

/* Longest ULEB128 number accepted: 5 bytes carry 35 bits, plenty. */
#define ULEB128_MAX_BYTES 5

static int uleb128_len(uint32_t v)
{
    int n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static int uleb128_put(uint8_t *out, uint32_t v)
{
    int n = 0;

    do {
        uint8_t byte = v & 0x7f;

        v >>= 7;
        out[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    return n;
}

/*
 * Read one number at src[*pos] (before @end); advances *pos.  False if
 * the input ends inside it or it is longer than ULEB128_MAX_BYTES.
 */
static bool uleb128_get(const uint8_t *src, int end, int *pos, uint64_t *val)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < ULEB128_MAX_BYTES && *pos < end; i++) {
        uint8_t byte = src[(*pos)++];

        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *val = v;
            return true;
        }
    }
    return false;
}

/* Length of the run of equal bytes starting at @i (before @n). */
static int equal_run(const uint8_t *a, const uint8_t *b, int i, int n)
{
    int start = i;

    /* A word at a time while they match; the byte loop finds the spot. */
    while (i + (int)sizeof(uint64_t) <= n) {
        uint64_t x, y;

        memcpy(&x, a + i, sizeof(x));
        memcpy(&y, b + i, sizeof(y));
        if (x != y) {
            break;
        }
        i += sizeof(uint64_t);
    }
    while (i < n && a[i] == b[i]) {
        i++;
    }
    return i - start;
}

/* Length of the run of changed bytes starting at @i (a[i] != b[i]). */
static int changed_run(const uint8_t *a, const uint8_t *b, int i, int n)
{
    int start = i;

    while (i < n) {
        if (a[i] != b[i]) {
            i++;
        } else if (i + 1 < n && a[i + 1] != b[i + 1]) {
            /*
             * A lone unchanged byte between changes: as its own run it
             * costs two count bytes, carried inside this run it costs one.
             */
            i += 2;
        } else {
            break;
        }
    }
    return i - start;
}

int xbzrle_encode_buffer(const uint8_t *old_buf, const uint8_t *new_buf,
                         int slen, uint8_t *dst, int dlen)
{
    /* Worth sending only if smaller than the page itself. */
    int limit = MIN(dlen, slen - 1);
    int i = 0, d = 0;

    if (slen < 0 || dlen < 0) {
        return -1;
    }
    while (i < slen) {
        int zrun = equal_run(old_buf, new_buf, i, slen);
        int nzrun;

        if (i + zrun == slen) {
            break;      /* trailing unchanged bytes are implicit */
        }
        i += zrun;
        nzrun = changed_run(old_buf, new_buf, i, slen);
        if (d + uleb128_len(zrun) + uleb128_len(nzrun) + nzrun > limit) {
            return -1;
        }
        d += uleb128_put(dst + d, zrun);
        d += uleb128_put(dst + d, nzrun);
        memcpy(dst + d, new_buf + i, nzrun);
        d += nzrun;
        i += nzrun;
    }
    return d;
}

/*
 * One pass over the encoding: checks every rule, and if @dst is not NULL
 * also applies the changed runs.  Returns the page bytes covered or -1.
 */
static int xbzrle_walk(const uint8_t *src, int slen, uint8_t *dst, int dlen,
                       Error **errp)
{
    int i = 0, d = 0;

    while (i < slen) {
        int at = i;
        uint64_t zrun, nzrun;

        if (!uleb128_get(src, slen, &i, &zrun)) {
            error_setg(errp, "XBZRLE: truncated or over-long unchanged-run "
                       "count at offset %d", at);
            return -1;
        }
        if (zrun == 0 && at != 0) {
            error_setg(errp, "XBZRLE: empty unchanged run at offset %d", at);
            return -1;
        }
        if (zrun > (uint64_t)(dlen - d)) {
            error_setg(errp, "XBZRLE: unchanged run of %" PRIu64 " bytes at "
                       "offset %d goes past the %d-byte page", zrun, at, dlen);
            return -1;
        }
        d += zrun;

        at = i;
        if (!uleb128_get(src, slen, &i, &nzrun)) {
            error_setg(errp, "XBZRLE: truncated or over-long changed-run "
                       "count at offset %d", at);
            return -1;
        }
        if (nzrun == 0) {
            error_setg(errp, "XBZRLE: empty changed run at offset %d", at);
            return -1;
        }
        if (nzrun > (uint64_t)(dlen - d)) {
            error_setg(errp, "XBZRLE: changed run of %" PRIu64 " bytes at "
                       "offset %d goes past the %d-byte page", nzrun, at,
                       dlen);
            return -1;
        }
        if (nzrun > (uint64_t)(slen - i)) {
            error_setg(errp, "XBZRLE: changed run of %" PRIu64 " bytes at "
                       "offset %d, but only %d bytes of input are left",
                       nzrun, at, slen - i);
            return -1;
        }
        if (dst) {
            memcpy(dst + d, src + i, nzrun);
        }
        i += nzrun;
        d += nzrun;
    }
    return d;
}

int xbzrle_decode_buffer(const uint8_t *src, int slen, uint8_t *dst, int dlen,
                         Error **errp)
{
    if (slen < 0 || dlen < 0) {
        error_setg(errp, "XBZRLE: invalid lengths (input %d, page %d)",
                   slen, dlen);
        return -1;
    }
    /* Validate first so that bad input leaves the page untouched. */
    if (xbzrle_walk(src, slen, NULL, dlen, errp) < 0) {
        return -1;
    }
    return xbzrle_walk(src, slen, dst, dlen, errp);
}
