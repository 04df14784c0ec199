/*
 * pidfile.h - the -p pid file: written while root, removed at exit even
 * after privileges are dropped.
 */
#ifndef PIDFILE_H
#define PIDFILE_H

/* pidfile_write - path (absolute) holds our pid, mode 0644; 0, or -1
 * with errno set. */
int	pidfile_write(const char *path);

/* pidfile_keep_remover - called while still root, after pidfile_write()
 * and before privileges are dropped: fork the process that removes path
 * when this one exits. 0, or -1 with errno set. */
int	pidfile_keep_remover(const char *path);

/* pidfile_remove - at the end: remove path (through the remover if
 * there is one, and wait for it); 0, or -1 after logging why not. */
int	pidfile_remove(const char *path);

#endif
