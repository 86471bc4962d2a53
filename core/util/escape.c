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

/* The escaped form of the character at p (n bytes left) into piece: its length; *len gets the
 * number of input bytes it stands for. */
static size_t escape_one(const unsigned char *p, size_t n, char piece[16], size_t *len)
{
  unsigned cp;

  *len = 1;
  if (p[0] == '\\')
    return (size_t)snprintf(piece, 16, "\\\\");
  if (p[0] >= 0x20 && p[0] < 0x7f) {
    piece[0] = (char)p[0];
    return 1;
  }
  if (p[0] >= 0x80) {
    *len = utf8_len(p, n, &cp);
    if (*len > 0 && unsafe_cp(cp))
      return (size_t)snprintf(piece, 16, "\\u{%04X}", cp);
    if (*len > 0) {
      memcpy(piece, p, *len);
      return *len;
    }
  }
  *len = 1;
  return (size_t)snprintf(piece, 16, "\\x%02x", p[0]);
}

char *bg_escape(const char *s, size_t n, char *out, size_t cap)
{
  const unsigned char *p = (const unsigned char *)s;
  char piece[16];
  size_t i, o = 0, len, plen, total = 0;
  int cut;

  if (cap == 0)
    return out;
  for (i = 0; i < n; i += len)
    total += escape_one(p + i, n - i, piece, &len);
  cut = total + 1 > cap;
  for (i = 0; i < n; i += len) {
    plen = escape_one(p + i, n - i, piece, &len);
    /* when it does not all fit, room is kept for the "..." that marks the cut */
    if (o + plen + (cut ? 3 : 0) + 1 > cap) {
      if (o + 4 <= cap) {
        memcpy(out + o, "...", 3);
        o += 3;
      }
      break;
    }
    memcpy(out + o, piece, plen);
    o += plen;
  }
  out[o] = '\0';
  return out;
}

char *bg_escape_str(const char *s, char *out, size_t cap)
{
  return bg_escape(s ? s : "", s ? strlen(s) : 0, out, cap);
}
