/* Logging to stderr with one process-wide verbosity, set once by main. */
#ifndef BG_LOG_H
#define BG_LOG_H

enum bg_log_level { BG_LOG_ERROR = 0, BG_LOG_WARN = 1, BG_LOG_INFO = 2, BG_LOG_DEBUG = 3 };

void bg_log_set_level(int level);
int bg_log_get_level(void);
void bg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
