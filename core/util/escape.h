/* Strings from a registry, a layer or a file someone else wrote, made safe to print: a
 * terminal never sees a control character or an escape sequence from them. */
#ifndef BG_ESCAPE_H
#define BG_ESCAPE_H

#include <stddef.h>

/* Copies n bytes of s into out (cap >= 1 bytes, always NUL-terminated) and returns out.
 * Printable ASCII and well-formed UTF-8 stay as they are; a backslash becomes "\\", control
 * bytes, DEL and bytes that are not UTF-8 become "\xNN", C1 controls and the bidirectional
 * overrides become "\u{NNNN}". What does not fit is cut at a whole character and marked "...". */
char *bg_escape(const char *s, size_t n, char *out, size_t cap);

/* The same for a NUL-terminated string (NULL gives ""). */
char *bg_escape_str(const char *s, char *out, size_t cap);

#endif
