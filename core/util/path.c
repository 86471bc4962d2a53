/* The one path canonicaliser: components, policy flags, one pass. */
#include "path.h"

#include <stdio.h>
#include <string.h>

/* The next component of in at or after *i: its start, and its length (0 at the end). */
static size_t next_component(const char *in, size_t len, size_t *i, size_t *start)
{
  while (*i < len && in[*i] == '/')
    (*i)++;
  *start = *i;
  while (*i < len && in[*i] != '/')
    (*i)++;
  return *i - *start;
}

int bg_path_append(char *out, size_t cap, size_t *outlen, const char *in, size_t len,
                   unsigned flags)
{
  size_t l = *outlen, i = 0, s, n;

  if (len == 0 && (flags & BG_PATH_NOEMPTY))
    return BG_PATH_EMPTY;
  if (memchr(in, '\0', len) != NULL)
    return BG_PATH_NUL;
  if (len > 0 && in[0] == '/' && (flags & BG_PATH_NOABSOLUTE))
    return BG_PATH_ABSOLUTE;
  while ((n = next_component(in, len, &i, &s)) > 0) {
    if (n == 1 && in[s] == '.') {
      if (flags & BG_PATH_NODOT)
        return BG_PATH_DOT;
      continue;
    }
    if (n == 2 && in[s] == '.' && in[s + 1] == '.') {
      if (flags & BG_PATH_NODOTDOT)
        return BG_PATH_DOTDOT;
      if (flags & BG_PATH_POPDOTDOT) {
        if (l == 0)
          return BG_PATH_CLIMB;
        while (l > 0 && out[l - 1] != '/')
          l--;
        if (l > 0)
          l--;
        continue;
      }
    }
    if (n > BG_PATH_NAME_MAX && !(flags & BG_PATH_LONGNAMES))
      return BG_PATH_NAME_LONG;
    if (l + (l ? 1 : 0) + n + 1 > cap)
      return BG_PATH_LONG;
    if (l)
      out[l++] = '/';
    memcpy(out + l, in + s, n);
    l += n;
  }
  if (l + 1 > cap)
    return BG_PATH_LONG;
  out[l] = '\0';
  *outlen = l;
  return BG_PATH_OK;
}

int bg_path_clean(const char *in, size_t len, unsigned flags, char *out, size_t cap,
                  size_t *outlen)
{
  *outlen = 0;
  return bg_path_append(out, cap, outlen, in, len, flags);
}

const char *bg_path_problem_str(int problem)
{
  switch (problem) {
  case BG_PATH_OK: return "no problem";
  case BG_PATH_EMPTY: return "empty name";
  case BG_PATH_NUL: return "a NUL byte in the name";
  case BG_PATH_ABSOLUTE: return "an absolute name";
  case BG_PATH_DOT: return "a \".\" component";
  case BG_PATH_DOTDOT: return "a \"..\" component";
  case BG_PATH_CLIMB: return "a \"..\" above the root";
  case BG_PATH_NAME_LONG: return "name component too long";
  case BG_PATH_LONG: return "path too long";
  }
  return "unknown path problem";
}

/* The length of the first component over the limit, for the message. */
static size_t long_component(const char *in, size_t len)
{
  size_t i = 0, s, n;

  while ((n = next_component(in, len, &i, &s)) > 0)
    if (n > BG_PATH_NAME_MAX)
      return n;
  return 0;
}

int bg_path_error(struct bg_error *err, int problem, const char *in, size_t len,
                  const char *what)
{
  char msg[128];
  int code = BG_EINVAL;

  switch (problem) {
  case BG_PATH_ABSOLUTE:
  case BG_PATH_DOTDOT:
  case BG_PATH_CLIMB:
    code = BG_EUNSAFE;
    snprintf(msg, sizeof(msg), "unsafe path (%s)", bg_path_problem_str(problem));
    break;
  case BG_PATH_NAME_LONG:
    snprintf(msg, sizeof(msg), "name component too long (%zu bytes, at most %d)",
             long_component(in, len), BG_PATH_NAME_MAX);
    break;
  case BG_PATH_LONG:
    code = BG_ETOOBIG;
    snprintf(msg, sizeof(msg), "path too long (at most %d bytes)", BG_PATH_MAX);
    break;
  default:
    snprintf(msg, sizeof(msg), "%s", bg_path_problem_str(problem));
  }
  if (what != NULL)
    return bg_error_set(err, code, "%s: %s", what, msg);
  return bg_error_set(err, code, "%s", msg);
}

int bg_path_split(const char *path, char *dir, size_t dsz, const char **base,
                  struct bg_error *err)
{
  const char *slash = strrchr(path, '/');
  size_t n;

  *base = slash ? slash + 1 : path;
  if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
    return bg_error_set(err, BG_EINVAL, "%s: not a file name", path);
  if (slash == NULL) {
    if (dsz < 2)
      return bg_error_set(err, BG_ETOOBIG, "%s: path too long", path);
    memcpy(dir, ".", 2);
    return 0;
  }
  n = (size_t)(slash - path);
  if (n == 0)
    n = 1; /* "/x" lives in "/" */
  if (n >= dsz)
    return bg_error_set(err, BG_ETOOBIG, "%s: path too long", path);
  memcpy(dir, path, n);
  dir[n] = '\0';
  return 0;
}
