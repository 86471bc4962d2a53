#include "escape.h"

#include <stdio.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), and its code point; 0 if
 * the bytes are not one (overlong forms and surrogates included). */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp)
{
  size_t len, i;
  unsigned c = s[0], min;

  if (c >= 0xc2 && c <= 0xdf) {
    len = 2, c &= 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3, c &= 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4, c &= 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (len > n)
    return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    return 0;
  *cp = c;
  return len;
}

/* Code points a terminal acts on or that reorder the text around them. */
static int unsafe_cp(unsigned cp)
{
  return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029 || cp == 0x200e ||
         cp == 0x200f || cp == 0x061c;
}

char *bg_escape(const char *s, size_t n, char *out, size_t cap)
{
  const unsigned char *p = (const unsigned char *)s;
  char piece[16];
  size_t i = 0, o = 0, len, plen;
  unsigned cp;

  if (cap == 0)
    return out;
  while (i < n) {
    len = 1;
    if (p[i] == '\\') {
      plen = (size_t)snprintf(piece, sizeof(piece), "\\\\");
    } else if (p[i] >= 0x20 && p[i] < 0x7f) {
      piece[0] = (char)p[i];
      plen = 1;
    } else if (p[i] >= 0x80 && (len = utf8_len(p + i, n - i, &cp)) > 0) {
      if (unsafe_cp(cp)) {
        plen = (size_t)snprintf(piece, sizeof(piece), "\\u{%04X}", cp);
      } else {
        memcpy(piece, p + i, len);
        plen = len;
      }
    } else {
      len = 1;
      plen = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", p[i]);
    }
    /* room is kept for the "..." that marks a cut, as long as more input follows */
    if (o + plen + (i + len < n ? 3 : 0) + 1 > cap) {
      if (o + 4 <= cap) {
        memcpy(out + o, "...", 3);
        o += 3;
      }
      break;
    }
    memcpy(out + o, piece, plen);
    o += plen;
    i += len;
  }
  out[o] = '\0';
  return out;
}

char *bg_escape_str(const char *s, char *out, size_t cap)
{
  return bg_escape(s ? s : "", s ? strlen(s) : 0, out, cap);
}
