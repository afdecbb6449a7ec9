/*
 * Unit tests of XBZRLE in the "ram" section (migration/ram-xbzrle.c via
 * migration/ram.c and ram-load.c): hostile XBZRLE records fed to the
 * loader, and a
 * save -> load round trip with the xbzrle capability on, across several
 * dirty rounds, a cache resize, zero pages and pages that overflow.
 *
 * As in test-ram-load, the round trip forks: the child is the source,
 * the parent the destination, each with a RAMBlock of the same name.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include <sys/wait.h>
#include "io/channel-buffer.h"
#include "migration/qemu-file.h"
#include "migration/ram.h"
#include "migration/ram-xbzrle.h"
#include "migration/migration-stats.h"
#include "system/ramblock.h"
#include "ram-test-stubs.h"

#define PAGE TARGET_PAGE_SIZE
#define DST_PAGES 16

/* ---- Building streams ---- */

/* An XBZRLE record for page @offset of pc.ram: header, flag, length. */
static void put_xbzrle_head(GByteArray *s, uint64_t offset, uint8_t flag,
                            uint16_t len)
{
    put64(s, offset | RAM_SAVE_FLAG_XBZRLE);
    put_name(s, "pc.ram");
    put_byte(s, flag);
    put_byte(s, len >> 8);
    put_byte(s, len);
}

static RAMBlock *dst_block(void)
{
    RAMBlock *rb = ram_block_by_name("pc.ram");

    if (!rb) {
        rb = ram_block_new("pc.ram", DST_PAGES * PAGE, NULL, &error_abort);
    }
    return rb;
}

static bool load_stream(GByteArray *s, char **msg)
{
    const SaveVMHandlers *h = ram_test_handlers;
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new_data(s->data, s->len);
    QEMUFile *f = qemu_file_new_input(ioc);
    Error *err = NULL;
    bool ok;

    ok = h->load_state(f, NULL, 4, &err);
    h->load_cleanup(NULL);
    qemu_fclose(f);
    g_assert(ok == !err);
    *msg = err ? g_strdup(error_get_pretty(err)) : NULL;
    error_free(err);
    return ok;
}

/* Every byte of pc.ram equals @v. */
static void assert_dst_all(uint8_t v)
{
    RAMBlock *rb = dst_block();

    for (uint64_t i = 0; i < rb->used_length; i++) {
        g_assert_cmpint(rb->host[i], ==, v);
    }
}

/* @s is rejected with @what in the message; pc.ram stays all 0x5a. */
static void expect_reject(GByteArray *s, const char *what)
{
    g_autofree char *msg = NULL;

    g_assert_false(load_stream(s, &msg));
    if (!strstr(msg, what)) {
        g_test_message("error was: %s", msg);
    }
    g_assert_nonnull(strstr(msg, what));
    assert_dst_all(0x5a);
}

static GByteArray *fresh_stream(void)
{
    memset(dst_block()->host, 0x5a, DST_PAGES * PAGE);
    return g_byte_array_new();
}

/* ---- Hostile records ---- */

static void test_bad_encoding_flag(void)
{
    g_autoptr(GByteArray) s = fresh_stream();

    put_xbzrle_head(s, 2 * PAGE, 0x02, 3);
    put_byte(s, 0);
    put_byte(s, 1);
    put_byte(s, 0xff);
    put64(s, RAM_SAVE_FLAG_EOS);
    expect_reject(s, "wrong compression! (encoding flag 0x2, expected 0x1)");
}

static void test_length_over_page(void)
{
    g_autoptr(GByteArray) s = fresh_stream();

    put_xbzrle_head(s, 2 * PAGE, 0x01, PAGE + 1);
    for (int i = 0; i < PAGE + 1; i++) {
        put_byte(s, 1);
    }
    put64(s, RAM_SAVE_FLAG_EOS);
    expect_reject(s, "len overflow! (4097 encoded bytes, page is 4096)");
}

static void test_truncated(void)
{
    g_autoptr(GByteArray) s = fresh_stream();
    g_autoptr(GByteArray) t = fresh_stream();

    put_xbzrle_head(s, 2 * PAGE, 0x01, 100);
    put_byte(s, 0);
    put_byte(s, 1);
    expect_reject(s, "record is truncated (100 encoded bytes announced)");

    put64(t, 2 * PAGE | RAM_SAVE_FLAG_XBZRLE);
    put_name(t, "pc.ram");
    put_byte(t, 0x01);
    expect_reject(t, "Failed to load XBZRLE page - record is truncated");
}

/* Encoded data that reaches past the page or is malformed. */
static void test_bad_data(void)
{
    static const uint8_t past_end[] = { 0xff, 0x1f, 0x02, 0xaa, 0xbb };
    static const uint8_t zero_run[] = { 0x01, 0x01, 0xaa, 0x00, 0x00 };
    static const uint8_t cut_run[] = { 0x00, 0x05, 0xaa };
    static const uint8_t long_num[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                        0x01 };
    const struct {
        const uint8_t *d;
        int len;
    } cases[] = {
        { past_end, sizeof(past_end) },
        { zero_run, sizeof(zero_run) },
        { cut_run, sizeof(cut_run) },
        { long_num, sizeof(long_num) },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) s = fresh_stream();

        put_xbzrle_head(s, 2 * PAGE, 0x01, cases[i].len);
        g_byte_array_append(s, cases[i].d, cases[i].len);
        put64(s, RAM_SAVE_FLAG_EOS);
        expect_reject(s, "RAM page 0x2000 of block pc.ram: Failed to load "
                      "XBZRLE page - decode error: ");
    }
}

static void test_offset_beyond_end(void)
{
    g_autoptr(GByteArray) s = fresh_stream();

    put_xbzrle_head(s, DST_PAGES * PAGE, 0x01, 3);
    put_byte(s, 0);
    put_byte(s, 1);
    put_byte(s, 0xff);
    put64(s, RAM_SAVE_FLAG_EOS);
    expect_reject(s, "Illegal RAM offset 0x10000 in block pc.ram");
}

/* A good record changes exactly the bytes it encodes. */
static void test_good_record(void)
{
    g_autoptr(GByteArray) s = fresh_stream();
    g_autofree char *msg = NULL;
    RAMBlock *rb = dst_block();

    /* Skip 10, change 2; skip 4083, change 1 (the last byte). */
    put_xbzrle_head(s, 3 * PAGE, 0x01, 8);
    put_byte(s, 10);
    put_byte(s, 2);
    put_byte(s, 0x01);
    put_byte(s, 0x02);
    put_byte(s, 0xf3);
    put_byte(s, 0x1f);
    put_byte(s, 1);
    put_byte(s, 0x03);
    put64(s, RAM_SAVE_FLAG_EOS);
    g_assert_true(load_stream(s, &msg));
    for (uint64_t i = 0; i < rb->used_length; i++) {
        uint8_t want = 0x5a;

        if (i == 3 * PAGE + 10) {
            want = 1;
        } else if (i == 3 * PAGE + 11) {
            want = 2;
        } else if (i == 4 * PAGE - 1) {
            want = 3;
        }
        g_assert_cmpint(rb->host[i], ==, want);
    }
}

/* ---- Round trip ---- */

#define RT_PAGES 512
#define RT_NAME "xb.ram"

/* Round @r's change to page @p: none, a byte, zero, or all random. */
static void rt_change(RAMBlock *rb, uint64_t p, int r, GRand *rand)
{
    uint8_t *page = rb->host + p * PAGE;

    switch ((p + r) % 8) {
    case 0:
        return;
    case 1:
        memset(page, 0, PAGE);
        break;
    case 2:
        for (int i = 0; i < PAGE; i++) {
            page[i] = g_rand_int(rand);
        }
        break;
    case 3:
        memcpy(page, page, 0);  /* dirtied, same content */
        break;
    default:
        page[(p * 13 + r * 101) % PAGE] += r;
        page[(p * 7 + r) % PAGE] ^= 0x40;
        break;
    }
    ram_block_set_soft_dirty(rb, p * PAGE, PAGE);
}

static int rt_iterate_all(QEMUFile *f)
{
    const SaveVMHandlers *h = ram_test_handlers;
    int calls = 0, ret;

    do {
        ret = h->save_live_iterate(f, NULL);
        g_assert_cmpint(ret, >=, 0);
        calls++;
    } while (ret == 0);
    return calls;
}

/*
 * The source: a 128 KiB cache (32 pages) for 512 pages, grown to 4 MiB
 * after two rounds; six rounds of changes, then completion.  Sends the
 * stats, the section count, the final memory and the stream.
 */
static void rt_source(int fd)
{
    const SaveVMHandlers *h = ram_test_handlers;
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);
    RAMBlock *rb = ram_block_new(RT_NAME, RT_PAGES * PAGE, NULL,
                                 &error_abort);
    GRand *rand = g_rand_new_with_seed(42);
    RamXbzrleStats st;
    uint64_t must = 0, can = 0, sections = 1, small_pages = 0;
    g_autofree uint8_t *data = NULL;
    size_t len;

    madvise(rb->host, RT_PAGES * PAGE, MADV_NOHUGEPAGE);
    for (uint64_t p = 0; p < RT_PAGES; p++) {
        memset(rb->host + p * PAGE, p | 1, PAGE);
        ram_block_set_soft_dirty(rb, p * PAGE, PAGE);
    }
    ram_test_caps[MIGRATION_CAPABILITY_XBZRLE] = true;
    ram_test_xbzrle_cache_size = 32 * PAGE;
    g_assert_true(h->save_setup(f, NULL, &error_abort));
    sections += rt_iterate_all(f);
    for (int r = 1; r <= 6; r++) {
        for (uint64_t p = 0; p < RT_PAGES; p++) {
            rt_change(rb, p, r, rand);
        }
        h->state_pending_exact(NULL, &must, &can);
        sections += rt_iterate_all(f);
        ram_xbzrle_get_stats(&st);
        if (r == 2) {
            g_assert_cmpuint(st.cache_size, ==, 32 * PAGE);
            small_pages = st.pages;
            ram_test_xbzrle_cache_size = 1024 * PAGE;
        } else if (r > 2) {
            g_assert_cmpuint(st.cache_size, ==, 1024 * PAGE);
        }
    }
    for (uint64_t p = 0; p < RT_PAGES; p++) {
        rt_change(rb, p, 7, rand);
    }
    g_assert_true(h->save_live_complete_precopy(f, NULL, &error_abort));
    sections++;
    ram_xbzrle_get_stats(&st);
    /* The grown cache held every page: many more pages encoded. */
    g_assert_cmpuint(st.pages, >, small_pages + 3 * RT_PAGES / 2);
    h->save_cleanup(NULL);
    g_assert_cmpint(qemu_fclose(f), ==, 0);

    data = qio_channel_buffer_dup_data(ioc, &len);
    write_all(fd, &st, sizeof(st));
    write_all(fd, &sections, sizeof(sections));
    write_all(fd, rb->host, RT_PAGES * PAGE);
    write_all(fd, &len, sizeof(len));
    write_all(fd, data, len);
    g_rand_free(rand);
}

static void test_round_trip(void)
{
    const SaveVMHandlers *h = ram_test_handlers;
    g_autofree uint8_t *want = g_malloc(RT_PAGES * PAGE);
    g_autofree uint8_t *data = NULL;
    g_autoptr(QIOChannel) ioc = NULL;
    RamXbzrleStats st;
    uint64_t sections;
    RAMBlock *rb;
    QEMUFile *f;
    size_t len;
    int pipefd[2], status;
    pid_t pid;

    g_assert_cmpint(pipe(pipefd), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(pipefd[0]);
        rt_source(pipefd[1]);
        _exit(0);
    }
    close(pipefd[1]);
    read_all(pipefd[0], &st, sizeof(st));
    read_all(pipefd[0], &sections, sizeof(sections));
    read_all(pipefd[0], want, RT_PAGES * PAGE);
    read_all(pipefd[0], &len, sizeof(len));
    data = g_malloc(len);
    read_all(pipefd[0], data, len);
    close(pipefd[0]);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_test_message("xbzrle: %" PRIu64 " pages, %" PRIu64 " bytes, %" PRIu64
                   " misses, %" PRIu64 " overflows, rates %.2f / %.2f; "
                   "stream %zu bytes", st.pages, st.bytes, st.cache_miss,
                   st.overflow, st.cache_miss_rate, st.encoding_rate, len);
    g_assert_cmpuint(st.pages, >, 0);
    g_assert_cmpuint(st.overflow, >, 0);     /* the random pages */
    g_assert_cmpuint(st.cache_miss, >, 0);   /* the small cache */
    g_assert_cmpfloat(st.encoding_rate, >, 1.0);
    /* Far less than a page per changed page went over the wire. */
    g_assert_cmpuint(len, <, 4 * RT_PAGES * PAGE);

    rb = ram_block_by_name(RT_NAME);
    if (!rb) {
        rb = ram_block_new(RT_NAME, RT_PAGES * PAGE, NULL, &error_abort);
    }
    memset(rb->host, 0x77, RT_PAGES * PAGE);
    ioc = qio_channel_buffer_new_data(data, len);
    f = qemu_file_new_input(ioc);
    g_assert_true(h->load_setup(f, NULL, &error_abort));
    for (uint64_t i = 0; i < sections; i++) {
        g_assert_true(h->load_state(f, NULL, 4, &error_abort));
    }
    h->load_cleanup(NULL);
    qemu_get_byte(f);                   /* the stream must be used up */
    g_assert_cmpint(qemu_file_get_error(f), ==, -EIO);
    qemu_fclose(f);
    for (uint64_t p = 0; p < RT_PAGES; p++) {
        g_assert_cmpmem(rb->host + p * PAGE, PAGE, want + p * PAGE, PAGE);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ram_mig_init();
    g_assert_nonnull(ram_test_handlers);

    g_test_add_func("/ram/xbzrle/load/bad-encoding-flag",
                    test_bad_encoding_flag);
    g_test_add_func("/ram/xbzrle/load/length-over-page",
                    test_length_over_page);
    g_test_add_func("/ram/xbzrle/load/truncated", test_truncated);
    g_test_add_func("/ram/xbzrle/load/bad-data", test_bad_data);
    g_test_add_func("/ram/xbzrle/load/offset-beyond-end",
                    test_offset_beyond_end);
    g_test_add_func("/ram/xbzrle/load/good-record", test_good_record);
    g_test_add_func("/ram/xbzrle/round-trip", test_round_trip);
    return g_test_run();
}
