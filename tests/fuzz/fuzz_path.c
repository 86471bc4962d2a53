/* The path policy (core/util/path.c) under hostile bytes. The first byte picks the flags, the
 * second the buffer size and where the input is cut in two; the rest is the path, NUL bytes
 * and all. Properties: a clean path has no empty, "." or (under the dotdot flags) ".."
 * component, no component over 255 bytes (unless allowed), fits its buffer; cleaning it again
 * changes nothing; a path that was already clean comes back as it was; cleaning a then
 * appending b is cleaning "a/b"; every problem gets a message; a split host path names a file
 * in a directory. */
#include "fuzz.h"

#include "util/path.h"

#define CAP_MAX (2 * BG_PATH_MAX + 2)

static void check_clean(const char *out, size_t len, size_t cap, unsigned flags)
{
  size_t i = 0, s;

  FUZZ_ASSERT(strlen(out) == len && len + 1 <= cap);
  FUZZ_ASSERT(len == 0 || (out[0] != '/' && out[len - 1] != '/'));
  while (i < len) {
    s = i;
    while (i < len && out[i] != '/')
      i++;
    FUZZ_ASSERT(i > s); /* no empty component */
    FUZZ_ASSERT(!(i - s == 1 && out[s] == '.'));
    if (flags & (BG_PATH_NODOTDOT | BG_PATH_POPDOTDOT))
      FUZZ_ASSERT(!(i - s == 2 && out[s] == '.' && out[s + 1] == '.'));
    if (!(flags & BG_PATH_LONGNAMES))
      FUZZ_ASSERT(i - s <= BG_PATH_NAME_MAX);
    i++;
  }
}

static int is_clean_already(const char *in, size_t len, size_t cap, unsigned flags)
{
  size_t i = 0, s;

  if (len == 0 || len + 1 > cap || in[0] == '/' || in[len - 1] == '/' ||
      memchr(in, '\0', len) != NULL)
    return 0;
  while (i < len) {
    s = i;
    while (i < len && in[i] != '/')
      i++;
    if (i == s || (i - s == 1 && in[s] == '.') || (i - s == 2 && in[s] == '.' && in[s + 1] == '.'))
      return 0;
    if (i - s > BG_PATH_NAME_MAX && !(flags & BG_PATH_LONGNAMES))
      return 0;
    i++;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static char out[CAP_MAX], again[CAP_MAX], joined[CAP_MAX], appended[CAP_MAX], dir[CAP_MAX];
  static char scratch[2 * CAP_MAX + 2];
  unsigned flags, flags2;
  size_t cap, len, len2, n, cut, alen;
  const char *in, *base;
  struct bg_error err;
  char *cstr;
  int p, p2, p3;

  if (size < 2)
    return 0;
  flags = data[0] & 0x3f;
  cap = 1 + (size_t)data[1] * CAP_MAX / 256 + (data[1] & 1 ? BG_PATH_MAX / 2 : 0);
  if (cap > CAP_MAX)
    cap = CAP_MAX;
  in = (const char *)data + 2;
  n = size - 2;
  if (n + 1 > sizeof(scratch))
    n = sizeof(scratch) - 1;
  p = bg_path_clean(in, n, flags, out, cap, &len);
  if (p != BG_PATH_OK) {
    FUZZ_ASSERT(p > BG_PATH_OK && p <= BG_PATH_LONG);
    bg_error_clear(&err);
    FUZZ_ASSERT(bg_path_error(&err, p, in, n, NULL) == -1 && err.code != 0 && err.msg[0]);
  } else {
    check_clean(out, len, cap, flags);
    /* cleaning is idempotent: the result has nothing left to clean */
    flags2 = flags & ~(unsigned)(BG_PATH_NOEMPTY);
    FUZZ_ASSERT(bg_path_clean(out, len, flags2, again, cap, &len2) == BG_PATH_OK);
    FUZZ_ASSERT(len2 == len && memcmp(again, out, len) == 0);
    if (is_clean_already(in, n, cap, flags))
      FUZZ_ASSERT(len == n && memcmp(out, in, n) == 0);
  }
  /* clean a, then append b, is clean "a/b" */
  cut = n ? (size_t)data[1] % (n + 1) : 0;
  flags2 = flags & ~(unsigned)(BG_PATH_NOEMPTY | BG_PATH_NOABSOLUTE);
  if (bg_path_clean(in, cut, flags2, appended, cap, &alen) == BG_PATH_OK) {
    p2 = bg_path_append(appended, cap, &alen, in + cut, n - cut, flags2);
    memcpy(scratch, in, cut);
    scratch[cut] = '/';
    memcpy(scratch + cut + 1, in + cut, n - cut);
    p3 = bg_path_clean(scratch, n + 1, flags2, joined, cap, &len2);
    FUZZ_ASSERT((p2 == BG_PATH_OK) == (p3 == BG_PATH_OK));
    if (p2 == BG_PATH_OK)
      FUZZ_ASSERT(alen == len2 && memcmp(appended, joined, alen) == 0);
  }
  /* host paths */
  cstr = fuzz_cstr((const uint8_t *)in, n);
  bg_error_clear(&err);
  if (bg_path_split(cstr, dir, cap, &base, &err) == 0) {
    FUZZ_ASSERT(base[0] != '\0' && strchr(base, '/') == NULL && dir[0] != '\0');
    FUZZ_ASSERT(strcmp(base, ".") != 0 && strcmp(base, "..") != 0);
  } else {
    FUZZ_ASSERT(err.code != 0);
  }
  free(cstr);
  return 0;
}
