/*
 * dirsync.h - group commit for directory fsyncs.
 */
#ifndef DIRSYNC_H
#define DIRSYNC_H

/*
 * dirsync - like fsync(fd) for a directory, but shared: returns once an
 * fsync of that directory that began after this call has succeeded
 * (0), or one that covered it failed (-1, errno set). Thread-safe.
 */
int	dirsync(int fd);

#endif
