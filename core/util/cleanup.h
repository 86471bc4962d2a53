/* Temporary files that must not outlive an interrupted run: registered while they exist, removed
 * by the signal handler main installs for SIGINT, SIGTERM and SIGHUP, which then lets the signal
 * end the process as it would have. */
#ifndef BG_CLEANUP_H
#define BG_CLEANUP_H

#define BG_CLEANUP_MAX 64

/* Installs the handler (once, from main). */
void bg_cleanup_install(void);
/* Remembers path (copied; at most PATH_MAX bytes); returns a slot, or -1 when all are taken. */
int bg_cleanup_add(const char *path);
/* Forgets a slot once its file is renamed into place or removed. -1 is ignored. */
void bg_cleanup_forget(int slot);

#endif
