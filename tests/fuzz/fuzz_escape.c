/* Escaping of strings from registries and layers on arbitrary bytes and buffer sizes: what
 * comes out is NUL-terminated, fits, holds no control byte, DEL or C1 control, and is valid
 * UTF-8; with room enough nothing is cut. */
#include "fuzz.h"

#include "util/escape.h"

static int valid_utf8_no_controls(const unsigned char *s)
{
  size_t i = 0, len, k;
  unsigned c;

  while (s[i] != '\0') {
    c = s[i];
    if (c < 0x20 || c == 0x7f)
      return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (len == 0)
      return 0;
    for (k = 1; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80)
        return 0;
    if (len == 2 && c == 0xc2 && s[i + 1] < 0xa0)
      return 0; /* U+0080..U+009F */
    i += len;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const size_t caps[] = {1, 2, 4, 5, 17, 64, 300};
  size_t big = size * 10 + 320, k; /* >= every cap + 1 */
  char *out = malloc(big);

  if (out == NULL)
    abort();
  for (k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
    memset(out, 'Z', caps[k] + 1);
    bg_escape((const char *)data, size, out, caps[k]);
    FUZZ_ASSERT(strlen(out) < caps[k] && out[caps[k]] == 'Z');
    FUZZ_ASSERT(valid_utf8_no_controls((const unsigned char *)out));
  }
  bg_escape((const char *)data, size, out, big);
  FUZZ_ASSERT(valid_utf8_no_controls((const unsigned char *)out));
  /* plain text passes unchanged, and is never cut when there is room */
  for (k = 0; k < size && data[k] >= 0x20 && data[k] < 0x7f && data[k] != '\\'; k++)
    ;
  if (k == size)
    FUZZ_ASSERT(strlen(out) == size && memcmp(out, data, size) == 0);
  free(out);
  return 0;
}
