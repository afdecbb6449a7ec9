/*
 * QEMUFile: the migration stream.  A buffered, big-endian reader or writer
 * over one QIOChannel, with one sticky error: the first failure (an I/O
 * error, a short read at end of stream, or one set by a caller who found
 * the data bad) is kept, later operations become no-ops (writes) or
 * return zeros (reads), and the owner checks qemu_file_get_error() at its
 * next decision point.  This keeps parsers short and makes it impossible
 * to act on data read after a failure.
 *
 * Threading: a QEMUFile is used by one thread at a time (the migration
 * thread, the incoming thread, a multifd thread...).  The rate limit and
 * the byte counters are read by other threads (query-migrate) with atomics.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_QEMU_FILE_H
#define MIGRATION_QEMU_FILE_H

#include "qapi/error.h"

typedef struct QEMUFile QEMUFile;

/*
 * The file's buffer.  A reader fills it with one read call, so its size
 * bounds the bytes per recvmsg(): at 32 KiB the incoming thread made
 * eight times as many calls for a stream of pages and ran slower than
 * the source (docs/devel/migration/benchmarks.md, "one stream").
 */
#define QEMU_FILE_BUF_SIZE (256 * KiB)
typedef struct QIOChannel QIOChannel;

/* The file takes a reference on @ioc and drops it in qemu_fclose(). */
QEMUFile *qemu_file_new_output(QIOChannel *ioc);
QEMUFile *qemu_file_new_input(QIOChannel *ioc);
/* Flush (output), close the channel; returns the sticky error or 0. */
int qemu_fclose(QEMUFile *f);
QIOChannel *qemu_file_get_ioc(QEMUFile *f);

/* Writing.  Errors are sticky: check qemu_file_get_error() afterwards. */
void qemu_put_byte(QEMUFile *f, int v);
void qemu_put_be16(QEMUFile *f, unsigned int v);
void qemu_put_be32(QEMUFile *f, unsigned int v);
void qemu_put_be64(QEMUFile *f, uint64_t v);
void qemu_put_buffer(QEMUFile *f, const uint8_t *buf, size_t size);
/*
 * Queue @buf by reference (it is written from its own memory, not copied
 * into the file's buffer) until the next flush: for guest pages, which
 * must stay mapped and unchanged-or-resent until then.
 */
void qemu_put_buffer_async(QEMUFile *f, const uint8_t *buf, size_t size);
/* u8 length + bytes (strings up to 255 bytes). */
void qemu_put_counted_string(QEMUFile *f, const char *str);
void qemu_fflush(QEMUFile *f);

/* Reading.  A short stream sets -EIO (sticky) and returns zeros. */
int qemu_get_byte(QEMUFile *f);
unsigned int qemu_get_be16(QEMUFile *f);
unsigned int qemu_get_be32(QEMUFile *f);
uint64_t qemu_get_be64(QEMUFile *f);
/* Returns bytes read: less than @size only with the error set. */
size_t qemu_get_buffer(QEMUFile *f, uint8_t *buf, size_t size);
/*
 * Read @size bytes; *@buf points either into the file's buffer (valid
 * until the next read) or at the caller's original *@buf, filled.
 */
size_t qemu_get_buffer_in_place(QEMUFile *f, uint8_t **buf, size_t size);
/* Read a u8-counted string into @buf (256 bytes); returns its length. */
size_t qemu_get_counted_string(QEMUFile *f, char buf[256]);
/* Look ahead without consuming (@size <= QEMU_FILE_BUF_SIZE). */
size_t qemu_peek_buffer(QEMUFile *f, uint8_t **buf, size_t size,
                        size_t offset);
int qemu_peek_byte(QEMUFile *f, int offset);
void qemu_file_skip(QEMUFile *f, int size);

/* The sticky error: 0 or a negative errno. */
int qemu_file_get_error(QEMUFile *f);
/* Same, plus the Error that explains it (a copy; may be NULL). */
int qemu_file_get_error_obj(QEMUFile *f, Error **errp);
/* Set the error if none is set yet; @err (consumed) explains it. */
void qemu_file_set_error_obj(QEMUFile *f, int ret, Error *err);
void qemu_file_set_error(QEMUFile *f, int ret);
/* Shut the channel down both ways to unblock a thread stuck in I/O. */
int qemu_file_shutdown(QEMUFile *f);

/* Bytes written to (or read from) the channel so far; any thread. */
uint64_t qemu_file_transferred(QEMUFile *f);

/*
 * Rate limiting for the writer: a budget of @bytes_per_second, checked by
 * the migration loop once per page batch.  0 means unlimited.
 */
void qemu_file_set_rate_limit(QEMUFile *f, uint64_t bytes_per_second);
/* True if this period's budget is spent: the caller should wait. */
bool qemu_file_rate_limit(QEMUFile *f);
/* Sleep until the next rate-limit period; returns early on error. */
void qemu_file_rate_limit_wait(QEMUFile *f);

/*
 * Additions beyond the original contract (additive; by the io helper).
 */
bool qemu_file_is_writable(QEMUFile *f);
/*
 * qemu_fclose() that also explains a failure: the sticky error's Error,
 * or the channel's close error (e.g. an exec: command that exited
 * non-zero).  Returns the same value as qemu_fclose().
 */
int qemu_file_close(QEMUFile *f, Error **errp);
/*
 * Positioned I/O for "file:" migration with offsets (mapped-ram), on
 * seekable channels; independent of the buffered stream position.
 * Return the bytes transferred; fewer than @len only with the error set.
 */
size_t qemu_put_buffer_at(QEMUFile *f, const uint8_t *buf, size_t len,
                          off_t pos);
size_t qemu_get_buffer_at(QEMUFile *f, uint8_t *buf, size_t len, off_t pos);
/*
 * The stream's position in a seekable channel (a writer is flushed
 * first; a reader's read-ahead is discounted), and moving it there (a
 * reader's read-ahead is dropped).  mapped-ram skips the RAM regions of
 * the file with these.
 */
bool qemu_file_get_offset(QEMUFile *f, uint64_t *pos, Error **errp);
bool qemu_file_set_offset(QEMUFile *f, uint64_t pos, Error **errp);
/*
 * The return path: a second file over @f's channel, in the other
 * direction (a reader for an output file, a writer for an input one), so
 * that two threads can read and write the same connection.  It holds its
 * own reference on the channel; closing it leaves the channel open (@f's
 * close closes it).  qemu_file_shutdown() on either shuts the connection
 * down both ways.  Close the return path before, or after, @f: not while
 * another thread uses it.
 */
QEMUFile *qemu_file_get_return_path(QEMUFile *f);
/* Count bytes sent elsewhere (multifd) against the budget; any thread. */
void qemu_file_acct_rate_limit(QEMUFile *f, uint64_t len);
/* Start a new rate-limit period now, with nothing spent. */
void qemu_file_reset_rate_limit(QEMUFile *f);
/* The limit in bytes per second (0: none), as rounded to whole periods. */
uint64_t qemu_file_get_rate_limit(QEMUFile *f);
/* Bytes counted against this period's budget so far; any thread. */
uint64_t qemu_file_rate_limit_used(QEMUFile *f);

#endif
