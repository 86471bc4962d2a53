#include "json.h"

#include <string.h>

#include "escape.h"

/* Depth and value count in one linear pass, before jansson builds anything: a 16 MiB document
 * of "[[[[..." or "[0,0,0,..." would otherwise cost a deep recursion or millions of nodes.
 * Only structure outside strings counts; whether the text is valid JSON is jansson's call. */
static int prescan(const char *s, size_t n, struct bg_error *err)
{
  size_t i, depth = 0, values = 1;
  int in_str = 0;

  for (i = 0; i < n; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
      continue;
    }
    if (c == '"') {
      in_str = 1;
    } else if (c == '[' || c == '{') {
      if (++depth > BG_JSON_MAX_DEPTH)
        return bg_error_set(err, BG_ETOOBIG, "invalid JSON at byte %zu: nested more than %d "
                            "deep", i, BG_JSON_MAX_DEPTH);
      values++;
    } else if (c == ']' || c == '}') {
      if (depth > 0)
        depth--;
    } else if (c == ',') {
      values++;
    }
    if (values > BG_JSON_MAX_VALUES)
      return bg_error_set(err, BG_ETOOBIG, "invalid JSON at byte %zu: more than %d values", i,
                          BG_JSON_MAX_VALUES);
  }
  return 0;
}

int bg_json_parse(const char *s, size_t n, json_t **out, struct bg_error *err)
{
  json_error_t je;
  char why[256];

  *out = NULL;
  if (prescan(s, n, err) != 0)
    return -1;
  *out = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (*out == NULL)
    /* jansson quotes the text near the error: it is the document's, so it is escaped */
    return bg_error_set(err, BG_EINVAL, "invalid JSON at byte %d: %s", je.position,
                        bg_escape_str(je.text, why, sizeof(why)));
  return 0;
}

const char *bg_json_getstr(const json_t *obj, const char *key)
{
  return json_string_value(json_object_get(obj, key));
}

int bg_json_uint(const json_t *v, uint64_t *out)
{
  json_int_t i;

  if (!json_is_integer(v))
    return -1;
  i = json_integer_value(v);
  if (i < 0)
    return -1;
  *out = (uint64_t)i;
  return 0;
}

struct dump_ctx {
  struct bg_buf *b;
  struct bg_error *err;
};

static int dump_cb(const char *p, size_t n, void *data)
{
  struct dump_ctx *d = data;

  return bg_buf_add(d->b, p, n, d->err);
}

int bg_json_dump(struct bg_buf *b, const json_t *v, struct bg_error *err)
{
  struct dump_ctx d = {b, err};

  if (json_dump_callback(v, dump_cb, &d, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
    return bg_error_set(err, err->code ? err->code : BG_ENOMEM, "cannot write JSON");
  return 0;
}
