/*
 * Unit tests of the "ram" section (migration/ram-load.c, the loader, and
 * migration/ram.c, the source): hostile records fed to the loader, and a
 * save -> load round trip between two processes.
 *
 * The hostile cases build the stream by hand and load it into a 16-page
 * RAMBlock "pc.ram"; each must fail with an error naming the problem,
 * with guest RAM outside the one legal page untouched.  The round trip
 * forks: the child is the source (its own RAMBlock list, dirty tracking
 * through soft dirty bits as with -accel qtest), the parent the
 * destination, so both sides have a block of the same name.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "io/channel-buffer.h"
#include "migration/qemu-file.h"
#include "migration/ram.h"
#include "migration/migration-stats.h"
#include "system/ramblock.h"
#include "ram-test-stubs.h"

#define PAGE TARGET_PAGE_SIZE
#define DST_PAGES 16

/* ---- Building streams ---- */

static void put_fill(GByteArray *s, uint8_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put_byte(s, v);
    }
}

/* The MEM_SIZE record for one block of @len bytes. */
static void put_block_list(GByteArray *s, const char *name, uint64_t len)
{
    put64(s, len | RAM_SAVE_FLAG_MEM_SIZE);
    put_name(s, name);
    put64(s, len);
}

/* PAGE records for pages @a and @b of @name, filled with @va and @vb. */
static void put_two_pages(GByteArray *s, const char *name, uint64_t a,
                          uint8_t va, uint64_t b, uint8_t vb)
{
    put64(s, a * PAGE | RAM_SAVE_FLAG_PAGE);
    put_name(s, name);
    put_fill(s, va, PAGE);
    put64(s, b * PAGE | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_CONTINUE);
    put_fill(s, vb, PAGE);
}

static RAMBlock *dst_block(void)
{
    RAMBlock *rb = ram_block_by_name("pc.ram");

    if (!rb) {
        rb = ram_block_new("pc.ram", DST_PAGES * PAGE, NULL, &error_abort);
    }
    return rb;
}

/*
 * Load @s as one RAM section: load_state then load_cleanup (which also
 * forgets the last block), after load_setup if @setup (which clears the
 * destination's RAM).  Returns whether it loaded; *@msg gets the error.
 */
static bool load_stream_setup(GByteArray *s, int version, bool setup,
                              char **msg)
{
    const SaveVMHandlers *h = ram_test_handlers;
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new_data(s->data, s->len);
    QEMUFile *f = qemu_file_new_input(ioc);
    Error *err = NULL;
    bool ok;

    ok = (!setup || h->load_setup(f, NULL, &err)) &&
         h->load_state(f, NULL, version, &err);
    h->load_cleanup(NULL);
    qemu_fclose(f);
    g_assert(ok == !err);
    *msg = err ? g_strdup(error_get_pretty(err)) : NULL;
    if (err) {
        error_free(err);
    }
    return ok;
}

static bool load_stream(GByteArray *s, int version, char **msg)
{
    return load_stream_setup(s, version, false, msg);
}

static void fill_dst(uint8_t v)
{
    RAMBlock *rb = dst_block();

    memset(rb->host, v, rb->used_length);
}

/* Every byte of the destination outside [@from, @to) equals @v. */
static void assert_dst_untouched(uint64_t from, uint64_t to, uint8_t v)
{
    RAMBlock *rb = dst_block();

    for (uint64_t i = 0; i < rb->used_length; i++) {
        if (i < from || i >= to) {
            g_assert_cmpint(rb->host[i], ==, v);
        }
    }
}

/* Expect @s to be rejected with a message containing @what. */
static void expect_reject(GByteArray *s, const char *what)
{
    g_autofree char *msg = NULL;

    g_assert_false(load_stream(s, 4, &msg));
    if (!strstr(msg, what)) {
        g_test_message("error was: %s", msg);
    }
    g_assert_nonnull(strstr(msg, what));
}

/* ---- Hostile records ---- */

static void test_unknown_block(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();

    dst_block();
    put_block_list(s, "nosuch.ram", DST_PAGES * PAGE);
    put64(s, RAM_SAVE_FLAG_EOS);
    expect_reject(s, "Unknown ramblock \"nosuch.ram\"");
}

static void test_length_mismatch(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();

    dst_block();
    put_block_list(s, "pc.ram", 2 * DST_PAGES * PAGE);
    put64(s, RAM_SAVE_FLAG_EOS);
    expect_reject(s, "Length mismatch: pc.ram: 0x20000 in != 0x10000: "
                  "Invalid argument");
}

static void test_block_list_total_short(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();

    /* The total announces more than the one entry that follows. */
    dst_block();
    put64(s, (2 * DST_PAGES * PAGE) | RAM_SAVE_FLAG_MEM_SIZE);
    put_name(s, "pc.ram");
    put64(s, DST_PAGES * PAGE);
    expect_reject(s, "truncated");
}

/* One record at @word (offset | flags) naming pc.ram, then a full page. */
static void expect_page_rejected(uint64_t word, const char *what)
{
    g_autoptr(GByteArray) s = g_byte_array_new();

    fill_dst(0x5a);
    put64(s, word);
    put_name(s, "pc.ram");
    put_fill(s, 0xee, PAGE);
    put64(s, RAM_SAVE_FLAG_EOS);
    expect_reject(s, what);
    assert_dst_untouched(0, 0, 0x5a);
}

static void test_offset_beyond_end(void)
{
    expect_page_rejected((DST_PAGES * PAGE) | RAM_SAVE_FLAG_PAGE,
                         "Illegal RAM offset 0x10000 in block pc.ram");
    expect_page_rejected((DST_PAGES * PAGE) | RAM_SAVE_FLAG_ZERO,
                         "Illegal RAM offset 0x10000");
}

static void test_offset_huge(void)
{
    expect_page_rejected(0xfffffffffffff000ULL | RAM_SAVE_FLAG_PAGE,
                         "Illegal RAM offset 0xfffffffffffff000");
    expect_page_rejected((1ULL << 63) | RAM_SAVE_FLAG_PAGE,
                         "Illegal RAM offset 0x8000000000000000");
}

static void test_offset_unaligned(void)
{
    /* Low bits of an unaligned offset read as flags: obsolete or unknown. */
    expect_page_rejected(0x1001 | RAM_SAVE_FLAG_PAGE, "obsolete flag");
    expect_page_rejected(0x1800 | RAM_SAVE_FLAG_PAGE,
                         "Unknown RAM record flags 0x800");
}

static void test_unknown_flags(void)
{
    expect_page_rejected(RAM_SAVE_FLAG_PAGE | 0x400,
                         "Unknown RAM record flags 0x400");
    expect_page_rejected(RAM_SAVE_FLAG_COMPRESS_PAGE, "obsolete flag");
    expect_page_rejected(RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_ZERO,
                         "Unknown combination of migration flags: 0xa");
    expect_page_rejected(RAM_SAVE_FLAG_XBZRLE, "XBZRLE");
    expect_page_rejected(RAM_SAVE_FLAG_HOOK, "RDMA");
}

static void test_unknown_block_in_page(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();

    fill_dst(0x5a);
    put64(s, RAM_SAVE_FLAG_PAGE);
    put_name(s, "other.ram");
    put_fill(s, 0xee, PAGE);
    put64(s, RAM_SAVE_FLAG_EOS);
    expect_reject(s, "Can't find block other.ram");
    assert_dst_untouched(0, 0, 0x5a);
}

static void test_continue_first(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();

    fill_dst(0x5a);
    put64(s, PAGE | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_CONTINUE);
    put_fill(s, 0xee, PAGE);
    put64(s, RAM_SAVE_FLAG_EOS);
    expect_reject(s, "no block was named before it");
    assert_dst_untouched(0, 0, 0x5a);
}

static void test_truncated_page(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();

    fill_dst(0x5a);
    put64(s, 3 * PAGE | RAM_SAVE_FLAG_PAGE);
    put_name(s, "pc.ram");
    put_fill(s, 0xee, 100);
    expect_reject(s, "RAM page 0x3000 of block pc.ram is truncated");
    /* Whatever arrived went to that page and nowhere else. */
    assert_dst_untouched(3 * PAGE, 4 * PAGE, 0x5a);
}

static void test_truncated_name_and_eos(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_autoptr(GByteArray) t = g_byte_array_new();

    put64(s, RAM_SAVE_FLAG_PAGE);
    put_byte(s, 20);
    g_byte_array_append(s, (const uint8_t *)"pc", 2);
    expect_reject(s, "truncated");

    /* A good page, then the stream just stops: no EOS. */
    put64(t, RAM_SAVE_FLAG_ZERO);
    put_name(t, "pc.ram");
    put_byte(t, 0);
    expect_reject(t, "no EOS record");
}

static void test_zero_value(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();

    fill_dst(0x5a);
    put64(s, RAM_SAVE_FLAG_ZERO);
    put_name(s, "pc.ram");
    put_byte(s, 1);
    put64(s, RAM_SAVE_FLAG_EOS);
    expect_reject(s, "Found a zero page with value 1");
}

static void test_bad_version(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_autofree char *msg = NULL;

    dst_block();
    put64(s, RAM_SAVE_FLAG_EOS);
    g_assert_false(load_stream(s, 3, &msg));
    g_assert_nonnull(strstr(msg, "RAM section version 3 is not supported"));
}

/* Good records: pages land where they say, CONTINUE, ZERO, FLUSH. */
static void test_good_records(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_autofree char *msg = NULL;
    RAMBlock *rb = dst_block();

    put_block_list(s, "pc.ram", DST_PAGES * PAGE);
    put64(s, RAM_SAVE_FLAG_EOS);
    g_assert_true(load_stream(s, 4, &msg));

    g_byte_array_set_size(s, 0);
    put_two_pages(s, "pc.ram", 2, 0x11, 5, 0x22);
    put64(s, RAM_SAVE_FLAG_MULTIFD_FLUSH);
    put64(s, 15 * PAGE | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE);
    put_byte(s, 0);
    put64(s, RAM_SAVE_FLAG_EOS);
    fill_dst(0x5a);     /* load_setup clears it: the source sends no junk */
    g_assert_true(load_stream_setup(s, 4, true, &msg));
    for (uint64_t i = 0; i < rb->used_length; i++) {
        uint64_t page = i / PAGE;
        uint8_t want = page == 2 ? 0x11 : page == 5 ? 0x22 : 0;

        g_assert_cmpint(rb->host[i], ==, want);
    }
}

/*
 * Shared fd-backed RAM (a memfd, share=on: the write stage's path).  A
 * ZERO record for a page that holds data zeroes it; one for a hole leaves
 * a hole: a read through the shared mapping would allocate the page in
 * the memfd (and on a full tmpfs die of SIGBUS).
 */
#define FD_PAGES 8

/* Pages allocated in @rb's file. */
static uint64_t fd_pages_allocated(RAMBlock *rb)
{
    struct stat st;

    g_assert_cmpint(fstat(rb->fd, &st), ==, 0);
    return (uint64_t)st.st_blocks * 512 / PAGE;
}

static void test_zero_shared_fd(void)
{
    MemoryBackend be = {
        .id = (char *)"fd.ram", .kind = RAM_BACKEND_MEMFD,
        .size = FD_PAGES * PAGE, .share = true,
    };
    RAMBlock *rb = ram_block_new("fd.ram", FD_PAGES * PAGE, &be,
                                 &error_abort);
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_autofree char *msg = NULL;

    put_block_list(s, "fd.ram", FD_PAGES * PAGE);
    put_two_pages(s, "fd.ram", 3, 0x77, 4, 0x66);
    put64(s, RAM_SAVE_FLAG_EOS);
    g_assert_true(load_stream_setup(s, 4, true, &msg));
    g_assert_cmpuint(fd_pages_allocated(rb), ==, 2);

    /* A later round: page 3 became zero, page 6 was populated and zero. */
    g_byte_array_set_size(s, 0);
    put64(s, 3 * PAGE | RAM_SAVE_FLAG_ZERO);
    put_name(s, "fd.ram");
    put_byte(s, 0);
    put64(s, 6 * PAGE | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE);
    put_byte(s, 0);
    put64(s, RAM_SAVE_FLAG_EOS);
    g_assert_true(load_stream(s, 4, &msg));
    g_assert_cmpuint(fd_pages_allocated(rb), ==, 2);
    for (uint64_t i = 0; i < rb->used_length; i++) {
        g_assert_cmpint(rb->host[i], ==, i / PAGE == 4 ? 0x66 : 0);
    }
}

/* ---- Round trip between two processes ---- */

#define RT_PAGES 4096                   /* 16 MiB block */
#define RT_NAME "rt.ram"

/* Byte the source leaves in page @p after round @round (0: untouched). */
static uint8_t rt_pattern(uint64_t p, int round)
{
    if (p % 7 == 3 || p % 5 == 0 || p >= RT_PAGES / 2) {
        return 0;       /* zeroed during the migration, or never touched */
    }
    return (uint8_t)(p * 31 + round + 1) | 1;
}

static bool rt_untouched(uint64_t p);

static bool rt_untouched(uint64_t p)
{
    return p % 5 == 0 || p >= RT_PAGES / 2;
}

static void rt_write_round(RAMBlock *rb, int round, bool only_some)
{
    for (uint64_t p = 0; p < RT_PAGES; p++) {
        uint8_t *page = rb->host + p * PAGE;
        uint8_t v = rt_pattern(p, round);

        if (rt_untouched(p) || (only_some && p % 3)) {
            continue;
        }
        if (p % 7 == 3) {
            if (round == 0) {
                memset(page, 0xcc, PAGE);   /* populated: zeroed later */
                ram_block_set_soft_dirty(rb, p * PAGE, PAGE);
            }
            continue;
        }
        memset(page, v, PAGE);
        page[PAGE - 1] = v ^ 0xff;          /* not uniform */
        ram_block_set_soft_dirty(rb, p * PAGE, PAGE);
    }
}

/* Final expected content of page @p after the source's last round. */
static uint8_t rt_final(uint64_t p, uint64_t byte)
{
    int round = p % 3 ? 1 : 2;
    uint8_t v = rt_pattern(p, round);

    if (!v) {
        return 0;
    }
    return byte == PAGE - 1 ? v ^ 0xff : v;
}

static void rt_zero_populated(RAMBlock *rb)
{
    for (uint64_t p = 3; p < RT_PAGES / 2; p += 7) {
        memset(rb->host + p * PAGE, 0, PAGE);
        ram_block_set_soft_dirty(rb, p * PAGE, PAGE);
    }
}

/*
 * The source: writes round 0 and 1, migrates at 10 MiB/s
 * limit so several iterations happen, writes round 2 (a third of the
 * pages) and zeroes some pages mid-migration, then completes.  Sends the
 * counters and the stream down @fd.
 */
static void rt_source(int fd)
{
    const SaveVMHandlers *h = ram_test_handlers;
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);
    RAMBlock *rb = ram_block_new(RT_NAME, RT_PAGES * PAGE, NULL,
                                 &error_abort);
    uint64_t counters[3], must = 0, can = 0;
    g_autofree uint8_t *data = NULL;
    size_t len;
    int iterations = 0;

    /* Small pages only, so "populated" is exactly what was written. */
    madvise(rb->host, RT_PAGES * PAGE, MADV_NOHUGEPAGE);
    rt_write_round(rb, 0, false);
    rt_write_round(rb, 1, false);
    g_assert_true(h->save_setup(f, NULL, &error_abort));
    qemu_file_set_rate_limit(f, 10 * 1024 * 1024);
    while (h->save_live_iterate(f, NULL) == 0) {
        iterations++;
        if (iterations == 1) {
            rt_write_round(rb, 2, true);
            rt_zero_populated(rb);
        }
        qemu_file_rate_limit_wait(f);
    }
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    h->state_pending_exact(NULL, &must, &can);
    g_assert_cmpuint(must, >, 0);       /* round 2 is dirty again */
    g_assert_true(h->save_live_complete_precopy(f, NULL, &error_abort));
    g_assert_cmpuint(ram_bytes_remaining(), ==, 0);
    h->save_cleanup(NULL);
    g_assert_cmpint(qemu_fclose(f), ==, 0);

    counters[0] = stat64_get(&mig_stats.normal_pages);
    counters[1] = stat64_get(&mig_stats.zero_pages);
    counters[2] = iterations;
    data = qio_channel_buffer_dup_data(ioc, &len);
    write_all(fd, counters, sizeof(counters));
    write_all(fd, &len, sizeof(len));
    write_all(fd, data, len);
}

/* Is the page at @addr backed by memory (present or swapped)? */
static bool page_populated(const void *addr)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint64_t entry = 0;
    ssize_t n;

    g_assert_cmpint(fd, >=, 0);
    n = pread(fd, &entry, 8, ((uintptr_t)addr / PAGE) * 8);
    close(fd);
    g_assert_cmpint(n, ==, 8);
    return entry & (3ULL << 62);
}

static void test_round_trip(void)
{
    const SaveVMHandlers *h = ram_test_handlers;
    RAMBlock *rb;
    uint64_t counters[3], touched = 0;
    g_autofree uint8_t *data = NULL;
    g_autoptr(QIOChannel) ioc = NULL;
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
    read_all(pipefd[0], counters, sizeof(counters));
    read_all(pipefd[0], &len, sizeof(len));
    data = g_malloc(len);
    read_all(pipefd[0], data, len);
    close(pipefd[0]);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_test_message("source: %" PRIu64 " normal, %" PRIu64 " zero pages, "
                   "%" PRIu64 " iterations, %zu bytes", counters[0],
                   counters[1], counters[2], len);

    /*
     * Every touched page went at least once; the never-touched half of
     * the block did not go at all (so fewer records than pages).
     */
    for (uint64_t p = 0; p < RT_PAGES; p++) {
        touched += !rt_untouched(p);
    }
    g_assert_cmpuint(counters[2], >=, 2);
    g_assert_cmpuint(counters[0] + counters[1], >=, touched);
    g_assert_cmpuint(counters[0] + counters[1], <, RT_PAGES);
    g_assert_cmpuint(counters[1], >, 0);

    /* The destination: junk in it first, which load_setup must clear. */
    rb = ram_block_new(RT_NAME, RT_PAGES * PAGE, NULL, &error_abort);
    madvise(rb->host, RT_PAGES * PAGE, MADV_NOHUGEPAGE);
    memset(rb->host, 0x77, RT_PAGES * PAGE);
    ioc = qio_channel_buffer_new_data(data, len);
    f = qemu_file_new_input(ioc);
    g_assert_true(h->load_setup(f, NULL, &error_abort));
    /* Setup, each iterate call and the final chunk: one section each. */
    for (uint64_t i = 0; i < counters[2] + 3; i++) {
        g_assert_true(h->load_state(f, NULL, 4, &error_abort));
    }
    h->load_cleanup(NULL);
    qemu_get_byte(f);                   /* the stream must be used up */
    g_assert_cmpint(qemu_file_get_error(f), ==, -EIO);
    qemu_fclose(f);

    /* Pages the source never touched were not touched here either. */
    g_assert_false(page_populated(rb->host + 5 * PAGE));
    g_assert_false(page_populated(rb->host + (RT_PAGES - 1) * PAGE));
    for (uint64_t p = 0; p < RT_PAGES; p++) {
        const uint8_t *page = rb->host + p * PAGE;

        for (uint64_t b = 0; b < PAGE; b += 511) {
            g_assert_cmpint(page[b], ==, rt_final(p, b));
        }
        g_assert_cmpint(page[PAGE - 1], ==, rt_final(p, PAGE - 1));
    }
}

/* ---- Postcopy: assembling a huge page (ram_load_postcopy_channel) ---- */

#define HP_PAGES 4      /* target pages per (pretend) huge page */

static GByteArray *placed;      /* the one host page placed, as data */
static uint64_t placed_offset;

static bool record_place(RAMBlock *rb, uint64_t offset, const void *data,
                         Error **errp)
{
    g_assert_null(placed);
    g_assert_nonnull(data);     /* huge pages: never UFFDIO_ZEROPAGE */
    placed = g_byte_array_new();
    g_byte_array_append(placed, data, rb->page_size);
    placed_offset = offset;
    return true;
}

/* Load @s as a preempt channel into pc.ram with HP_PAGES-page pages. */
static bool load_postcopy_channel(GByteArray *s, uint64_t *pages, char **msg)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new_data(s->data, s->len);
    QEMUFile *f = qemu_file_new_input(ioc);
    RAMBlock *rb = dst_block();
    size_t old_size = rb->page_size;
    Error *err = NULL;
    bool ok;

    rb->page_size = HP_PAGES * PAGE;
    ram_test_place_page = record_place;
    ok = ram_load_postcopy_channel(f, pages, &err);
    ram_test_place_page = NULL;
    rb->page_size = old_size;
    qemu_fclose(f);
    *msg = err ? g_strdup(error_get_pretty(err)) : NULL;
    error_free(err);
    return ok;
}

/* Target pages 4..7 (one with a ZERO record) become one placement. */
static void test_postcopy_huge_assembled(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_autofree char *msg = NULL;
    uint64_t pages = 0;

    put64(s, 4 * PAGE | RAM_SAVE_FLAG_PAGE);
    put_name(s, "pc.ram");
    put_fill(s, 0x11, PAGE);
    put64(s, 5 * PAGE | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE);
    put_byte(s, 0);
    put64(s, 6 * PAGE | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_CONTINUE);
    put_fill(s, 0x33, PAGE);
    put64(s, 7 * PAGE | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_CONTINUE);
    put_fill(s, 0x44, PAGE);
    put64(s, RAM_SAVE_FLAG_EOS);
    g_assert_true(load_postcopy_channel(s, &pages, &msg));
    g_assert_cmpuint(pages, ==, 4);
    g_assert_nonnull(placed);
    g_assert_cmpuint(placed_offset, ==, 4 * PAGE);
    g_assert_cmpuint(placed->len, ==, HP_PAGES * PAGE);
    for (int i = 0; i < HP_PAGES; i++) {
        static const uint8_t want[HP_PAGES] = { 0x11, 0, 0x33, 0x44 };

        g_assert_cmpint(placed->data[i * PAGE], ==, want[i]);
        g_assert_cmpint(placed->data[i * PAGE + PAGE - 1], ==, want[i]);
    }
    g_byte_array_unref(placed);
    placed = NULL;
}

/* A gap inside a huge page is refused, and nothing is placed. */
static void test_postcopy_huge_out_of_order(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_autofree char *msg = NULL;
    uint64_t pages = 0;

    put64(s, 4 * PAGE | RAM_SAVE_FLAG_PAGE);
    put_name(s, "pc.ram");
    put_fill(s, 0x11, PAGE);
    put64(s, 6 * PAGE | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_CONTINUE);
    put_fill(s, 0x33, PAGE);
    put64(s, RAM_SAVE_FLAG_EOS);
    g_assert_false(load_postcopy_channel(s, &pages, &msg));
    g_test_message("error: %s", msg);
    g_assert_nonnull(strstr(msg, "does not continue the host page"));
    g_assert_null(placed);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ram_mig_init();
    g_assert_nonnull(ram_test_handlers);

    g_test_add_func("/ram/load/unknown-block", test_unknown_block);
    g_test_add_func("/ram/load/length-mismatch", test_length_mismatch);
    g_test_add_func("/ram/load/block-list-short", test_block_list_total_short);
    g_test_add_func("/ram/load/offset-beyond-end", test_offset_beyond_end);
    g_test_add_func("/ram/load/offset-huge", test_offset_huge);
    g_test_add_func("/ram/load/offset-unaligned", test_offset_unaligned);
    g_test_add_func("/ram/load/unknown-flags", test_unknown_flags);
    g_test_add_func("/ram/load/unknown-block-in-page",
                    test_unknown_block_in_page);
    g_test_add_func("/ram/load/continue-first", test_continue_first);
    g_test_add_func("/ram/load/truncated-page", test_truncated_page);
    g_test_add_func("/ram/load/truncated-other", test_truncated_name_and_eos);
    g_test_add_func("/ram/load/zero-value", test_zero_value);
    g_test_add_func("/ram/load/bad-version", test_bad_version);
    g_test_add_func("/ram/load/good-records", test_good_records);
    g_test_add_func("/ram/load/zero-shared-fd", test_zero_shared_fd);
    g_test_add_func("/ram/postcopy/huge-assembled",
                    test_postcopy_huge_assembled);
    g_test_add_func("/ram/postcopy/huge-out-of-order",
                    test_postcopy_huge_out_of_order);
    g_test_add_func("/ram/round-trip", test_round_trip);
    return g_test_run();
}
