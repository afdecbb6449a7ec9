/*
 * Raw disk images attached with -drive.
 *
 * Only format=raw exists: a BlockBackend is an open file descriptor and
 * I/O is positional, so it is safe from any thread without a lock.  The
 * drive list is built by main() before any thread starts and is
 * read-only afterwards.
 *
 * snapshot=on copies the image into an unlinked temporary file at open
 * time: the guest may write, the image on disk never changes, and the
 * copy vanishes with the process.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <linux/falloc.h>
#include "qapi/error.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"
#include "block-int.h"
#include "trace.h"

/* BlockBackend *, in -drive order. */
static GPtrArray *drives;

static const char *const drive_keys[] = {
    "file", "format", "if", "id", "index", "bus", "unit", "media",
    "snapshot", "readonly", "cache", "aio", "discard", "werror", "rerror",
    "serial", "detect-zeroes", NULL
};

/* The interfaces QEMU accepts for if=; they only matter to the guest. */
static const char *const drive_ifs[] = {
    "none", "ide", "scsi", "floppy", "pflash", "mtd", "sd", "virtio", "xen",
    NULL
};

static bool drive_check_opts(QemuOpts *opts, Error **errp)
{
    const char *fmt = qemu_opt_get(opts, "format");
    const char *iface = qemu_opt_get(opts, "if");
    const char *media = qemu_opt_get(opts, "media");

    if (!qemu_opts_check_keys(opts, drive_keys, "-drive", errp)) {
        return false;
    }
    if (!qemu_opt_get(opts, "file") || !*qemu_opt_get(opts, "file")) {
        error_setg(errp, "-drive needs file=PATH (qmig has no empty drives)");
        return false;
    }
    if (fmt && strcmp(fmt, "raw")) {
        error_setg(errp, "Image format '%s' is not supported: qmig opens raw "
                   "images only (format=raw)", fmt);
        return false;
    }
    if (iface && !g_strv_contains(drive_ifs, iface)) {
        error_setg(errp, "unsupported bus type '%s'", iface);
        return false;
    }
    if (media && strcmp(media, "disk") && strcmp(media, "cdrom")) {
        error_setg(errp, "'%s' invalid media", media);
        return false;
    }
    return true;
}

/* Copy @src into an unlinked file in the temp directory; its fd or -1. */
static int drive_snapshot_copy(int src, const char *filename, Error **errp)
{
    const char *dir = g_get_tmp_dir();
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    off_t in = 0, out = 0;
    struct stat st;

    if (fd < 0) {
        g_autofree char *path = g_build_filename(dir, "qmig-snapshot-XXXXXX",
                                                 NULL);

        fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0) {
            unlink(path);
        }
    }
    if (fd < 0) {
        error_setg_errno(errp, errno, "snapshot=on: could not create a "
                         "temporary file in %s for '%s'", dir, filename);
        return -1;
    }
    if (fstat(src, &st) < 0) {
        goto fail;
    }
    /* A reflink when the file system can; a copy otherwise. */
    if (ioctl(fd, FICLONE, src) == 0) {
        return fd;
    }
    while (in < st.st_size) {
        ssize_t n = copy_file_range(src, &in, fd, &out, st.st_size - in, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            goto fail;
        }
    }
    return fd;

fail:
    error_setg_errno(errp, errno, "snapshot=on: could not copy '%s'",
                     filename);
    close(fd);
    return -1;
}

static bool drive_open(BlockBackend *blk, Error **errp)
{
    int flags = (blk->read_only || blk->snapshot) ? O_RDONLY : O_RDWR;
    int fd = open(blk->filename, flags | O_CLOEXEC);
    off_t len;

    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", blk->filename);
        return false;
    }
    if (blk->snapshot) {
        int copy = drive_snapshot_copy(fd, blk->filename, errp);

        close(fd);
        if (copy < 0) {
            return false;
        }
        fd = copy;
    }
    len = lseek(fd, 0, SEEK_END);       /* works for block devices too */
    if (len < 0) {
        error_setg_errno(errp, errno, "Could not get the size of '%s'",
                         blk->filename);
        close(fd);
        return false;
    }
    blk->fd = fd;
    blk->length = len;
    return true;
}

static void blk_free(BlockBackend *blk)
{
    blk_release_dirty_bitmaps(blk);
    g_mutex_clear(&blk->dirty_bitmap_mutex);
    if (blk->fd >= 0) {
        close(blk->fd);
    }
    g_free(blk->id);
    g_free(blk->filename);
    g_free(blk->attached_dev);
    g_free(blk);
}

static bool drive_index_taken(int index)
{
    for (guint i = 0; drives && i < drives->len; i++) {
        if (((BlockBackend *)g_ptr_array_index(drives, i))->index == index) {
            return true;
        }
    }
    return false;
}

BlockBackend *drive_new(QemuOpts *opts, Error **errp)
{
    BlockBackend *blk;
    uint64_t index;
    const char *id = qemu_opt_get(opts, "id");

    if (!drive_check_opts(opts, errp)) {
        return NULL;
    }
    if (id && blk_by_name(id)) {
        error_setg(errp, "Duplicate ID '%s' for drive", id);
        return NULL;
    }
    blk = g_new0(BlockBackend, 1);
    blk->fd = -1;
    g_mutex_init(&blk->dirty_bitmap_mutex);
    blk->filename = g_strdup(qemu_opt_get(opts, "file"));
    blk->if_none = !g_strcmp0(qemu_opt_get(opts, "if"), "none");
    if (!qemu_opt_get_bool(opts, "readonly", false, &blk->read_only, errp) ||
        !qemu_opt_get_bool(opts, "snapshot", false, &blk->snapshot, errp) ||
        !qemu_opt_get_number(opts, "index", UINT64_MAX, &index, errp)) {
        blk_free(blk);
        return NULL;
    }
    blk->index = index <= INT_MAX ? (int)index : -1;
    if (blk->index >= 0 && drive_index_taken(blk->index)) {
        error_setg(errp, "drive with index=%d is defined twice", blk->index);
        blk_free(blk);
        return NULL;
    }
    if (!drive_open(blk, errp)) {
        blk_free(blk);
        return NULL;
    }
    if (!drives) {
        drives = g_ptr_array_new();
    }
    blk->id = id ? g_strdup(id) : g_strdup_printf("drive%u", drives->len);
    g_ptr_array_add(drives, blk);
    trace_drive_new(blk->id, blk->filename, blk->length, blk->read_only,
                    blk->snapshot);
    return blk;
}

BlockBackend *blk_by_index(int index)
{
    /* An explicit index=N wins; otherwise the N-th -drive given. */
    for (guint i = 0; drives && i < drives->len; i++) {
        BlockBackend *blk = g_ptr_array_index(drives, i);

        if (blk->index == index) {
            return blk;
        }
    }
    if (!drives || index < 0 || (guint)index >= drives->len) {
        return NULL;
    }
    return g_ptr_array_index(drives, index);
}

BlockBackend *blk_by_name(const char *id)
{
    for (guint i = 0; drives && i < drives->len; i++) {
        BlockBackend *blk = g_ptr_array_index(drives, i);

        if (!strcmp(blk->id, id)) {
            return blk;
        }
    }
    return NULL;
}

int blk_count(void)
{
    return drives ? drives->len : 0;
}

BlockBackend *blk_next(BlockBackend *blk)
{
    guint i = 0;

    if (!drives) {
        return NULL;
    }
    if (blk) {
        if (!g_ptr_array_find(drives, blk, &i)) {
            return NULL;
        }
        i++;
    }
    return i < drives->len ? g_ptr_array_index(drives, i) : NULL;
}

const char *blk_name(BlockBackend *blk)
{
    return blk->id;
}

const char *blk_filename(BlockBackend *blk)
{
    return blk->filename;
}

uint64_t blk_getlength(BlockBackend *blk)
{
    return blk->length;
}

int64_t blk_pread(BlockBackend *blk, uint64_t offset, void *buf,
                  uint64_t len)
{
    uint64_t done = 0;

    while (done < len) {
        ssize_t n = pread(blk->fd, (uint8_t *)buf + done, len - done,
                          offset + done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            break;      /* end of image */
        }
        done += n;
    }
    trace_blk_pread(blk->id, offset, len, done);
    return done;
}

int64_t blk_pwrite(BlockBackend *blk, uint64_t offset, const void *buf,
                   uint64_t len)
{
    uint64_t done = 0;

    if (blk->read_only) {
        return -EACCES;
    }
    /* The size is fixed at open (read-only, so no lock): no growing. */
    if (offset > blk->length || len > blk->length - offset) {
        return -ENOSPC;
    }
    while (done < len) {
        ssize_t n = pwrite(blk->fd, (const uint8_t *)buf + done, len - done,
                           offset + done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int ret = -errno;

            /* Part of it may be in the file: bitmaps must not miss it. */
            blk_dirty_bitmaps_mark(blk, offset, done);
            return ret;
        }
        done += n;
    }
    /*
     * Marked after the data is in the file: a reader that takes the bit
     * (block migration) and then reads the range sees this write, or the
     * bit is set again after its read and the range is sent next round.
     */
    blk_dirty_bitmaps_mark(blk, offset, len);
    trace_blk_pwrite(blk->id, offset, len);
    return done;
}

bool blk_attach_dev(BlockBackend *blk, const char *dev, Error **errp)
{
    if (blk->attached_dev) {
        error_setg(errp, "Drive '%s' is already in use by device '%s'",
                   blk->id, blk->attached_dev);
        return false;
    }
    blk->attached_dev = g_strdup(dev);
    return true;
}

const char *blk_get_attached_dev(BlockBackend *blk)
{
    return blk->attached_dev;
}

bool blk_is_read_only(BlockBackend *blk)
{
    return blk->read_only;
}

/* Where the next data (@whence SEEK_DATA) or hole starts, or -errno. */
static int64_t blk_seek(BlockBackend *blk, uint64_t offset, int whence)
{
    off_t r = lseek(blk->fd, offset, whence);

    return r < 0 ? -errno : (int64_t)r;
}

bool blk_block_status(BlockBackend *blk, uint64_t offset, bool *allocated,
                      uint64_t *pnum, Error **errp)
{
    int64_t data, hole;

    if (offset >= blk->length) {
        error_setg(errp, "'%s': block status offset %" PRIu64 " is beyond "
                   "the end of the image (%" PRIu64 " bytes)", blk->id,
                   offset, blk->length);
        return false;
    }
    data = blk_seek(blk, offset, SEEK_DATA);
    if (data == -ENXIO) {
        /* No data from @offset on: a hole up to the end. */
        data = blk->length;
    } else if (data < 0) {
        /* No SEEK_DATA here (old file system, some devices): all data. */
        *allocated = true;
        *pnum = blk->length - offset;
        return true;
    }
    if ((uint64_t)data > offset) {
        *allocated = false;
        *pnum = MIN((uint64_t)data, blk->length) - offset;
        return true;
    }
    hole = blk_seek(blk, offset, SEEK_HOLE);
    if (hole < 0) {
        error_setg_errno(errp, -hole, "'%s': could not find the extent at "
                         "offset %" PRIu64, blk->id, offset);
        return false;
    }
    *allocated = true;
    *pnum = MIN((uint64_t)hole, blk->length) - offset;
    if (*pnum == 0) {
        *pnum = blk->length - offset;   /* file system oddity: be safe */
    }
    return true;
}

static int blk_write_zero_buffers(BlockBackend *blk, uint64_t offset,
                                  uint64_t len)
{
    const uint64_t chunk = 64 * 1024;
    g_autofree uint8_t *zeros = g_malloc0(chunk);

    while (len) {
        uint64_t n = MIN(len, chunk);
        ssize_t r = pwrite(blk->fd, zeros, n, offset);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r < 0 ? -errno : -EIO;
        }
        offset += r;
        len -= r;
    }
    return 0;
}

int blk_pwrite_zeroes(BlockBackend *blk, uint64_t offset, uint64_t len)
{
    int ret = 0;

    if (blk->read_only) {
        return -EACCES;
    }
    if (offset > blk->length || len > blk->length - offset) {
        return -ENOSPC;
    }
    if (len && fallocate(blk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         offset, len) < 0) {
        /* Not every file system (or device) punches holes: write zeros. */
        ret = blk_write_zero_buffers(blk, offset, len);
    }
    /* Even on error: part of the range may have changed. */
    blk_dirty_bitmaps_mark(blk, offset, len);
    trace_blk_pwrite_zeroes(blk->id, offset, len, ret);
    return ret;
}

int blk_flush(BlockBackend *blk)
{
    if (blk->read_only) {
        return 0;
    }
    return fdatasync(blk->fd) < 0 ? -errno : 0;
}

BlockBackend *blk_boot_disk(void)
{
    BlockBackend *blk = blk_by_index(0);

    /* An explicit index=0 wins, as the first disk a BIOS would see. */
    if (blk && !blk->if_none) {
        return blk;
    }
    for (blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        if (!blk->if_none) {
            return blk;
        }
    }
    return NULL;
}

void blk_close_all(void)
{
    if (!drives) {
        return;
    }
    for (guint i = 0; i < drives->len; i++) {
        blk_free(g_ptr_array_index(drives, i));
    }
    g_ptr_array_free(drives, true);
    drives = NULL;
}
