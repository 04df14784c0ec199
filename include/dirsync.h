/*
 * dirsync.h - group commit for directory fsyncs.
 */
#ifndef DIRSYNC_H
#define DIRSYNC_H

#include <sys/types.h>

/*
 * dirsync - like fsync(fd) for a directory, but shared: returns once an
 * fsync of that directory that began after this call has succeeded
 * (0), or one that covered it failed (-1, errno set). dev and ino are
 * the directory's (from fstat), and tell callers of one directory
 * apart from another's. Thread-safe.
 */
int	dirsync(int fd, dev_t dev, ino_t ino);

#endif
