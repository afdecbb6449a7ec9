/*
 * ThreadSanitizer annotations for accesses that race by design.
 *
 * tsan_ignore_begin()/tsan_ignore_end() bracket code whose memory
 * accesses ThreadSanitizer must not check: memory shared with parties
 * that never take a host lock (guest RAM, written by vCPUs, by migration
 * channels straight from the socket and by devices).  Outside a TSan
 * build they compile to nothing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_TSAN_H
#define QEMU_TSAN_H

#ifdef __SANITIZE_THREAD__
/* libtsan's dynamic annotations (no system header declares them). */
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);

#define tsan_ignore_begin() do {                    \
        AnnotateIgnoreReadsBegin(__FILE__, __LINE__);  \
        AnnotateIgnoreWritesBegin(__FILE__, __LINE__); \
    } while (0)
#define tsan_ignore_end() do {                      \
        AnnotateIgnoreWritesEnd(__FILE__, __LINE__);   \
        AnnotateIgnoreReadsEnd(__FILE__, __LINE__);    \
    } while (0)
#else
#define tsan_ignore_begin() do { } while (0)
#define tsan_ignore_end() do { } while (0)
#endif

#endif
