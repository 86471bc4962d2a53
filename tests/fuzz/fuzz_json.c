/* The JSON reader every document goes through (jansson behind the depth and value caps) on
 * arbitrary bytes: it either fails with a message or gives a document within the caps that
 * the writer turns into JSON which reads back to the same text. */
#include "fuzz.h"

#include "util/json.h"

static size_t depth(const json_t *v, size_t *values)
{
  const char *key;
  json_t *item;
  size_t i, d, max = 0;

  (*values)++;
  if (json_is_object(v)) {
    json_object_foreach((json_t *)v, key, item) {
      FUZZ_ASSERT(json_object_get(v, key) == item);
      d = depth(item, values);
      max = d > max ? d : max;
    }
    return max + 1;
  }
  if (json_is_array(v)) {
    json_array_foreach(v, i, item) {
      d = depth(item, values);
      max = d > max ? d : max;
    }
    return max + 1;
  }
  if (json_is_string(v))
    FUZZ_ASSERT(strlen(json_string_value(v)) == json_string_length(v));
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_t *doc = NULL, *again = NULL;
  struct bg_buf b1, b2;
  struct bg_error err;
  size_t values = 0;
  uint64_t u;

  bg_error_clear(&err);
  bg_buf_init(&b1, 1 << 24);
  bg_buf_init(&b2, 1 << 24);
  if (bg_json_parse((const char *)data, size, &doc, &err) != 0) {
    FUZZ_ASSERT(err.code != 0 && err.msg[0] != '\0' && doc == NULL);
    goto out;
  }
  FUZZ_ASSERT(depth(doc, &values) <= BG_JSON_MAX_DEPTH);
  FUZZ_ASSERT(values <= 2 * (size_t)BG_JSON_MAX_VALUES);
  (void)bg_json_uint(doc, &u);
  FUZZ_ASSERT(bg_json_dump(&b1, doc, &err) == 0);
  FUZZ_ASSERT(bg_json_parse(b1.data, b1.len, &again, &err) == 0);
  FUZZ_ASSERT(bg_json_dump(&b2, again, &err) == 0);
  FUZZ_ASSERT(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
  FUZZ_ASSERT(json_equal(doc, again));
out:
  if (doc != NULL)
    json_decref(doc);
  if (again != NULL)
    json_decref(again);
  bg_buf_free(&b1);
  bg_buf_free(&b2);
  return 0;
}
