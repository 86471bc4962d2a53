/* The bounded JSON parser on arbitrary bytes: it either fails with a message or gives a tree
 * that the writer turns into JSON which parses again to the same text. */
#include "fuzz.h"

#include "oci/json.h"

static void visit(const struct bg_json *v)
{
  const struct bg_json *c;
  uint64_t x;

  for (; v != NULL; v = v->next) {
    if (v->type == BG_JSON_NUMBER)
      (void)bg_json_uint(v, &x);
    if (v->type == BG_JSON_STRING)
      FUZZ_ASSERT(strlen(v->str) == v->len);
    if (v->type == BG_JSON_OBJECT)
      for (c = v->child; c != NULL; c = c->next)
        FUZZ_ASSERT(bg_json_get(v, c->key) != NULL);
    if (v->type == BG_JSON_OBJECT || v->type == BG_JSON_ARRAY)
      visit(v->child);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct bg_json_doc *doc = NULL, *again = NULL;
  struct bg_buf b1, b2;
  struct bg_error err;

  bg_error_clear(&err);
  bg_buf_init(&b1, 1 << 24);
  bg_buf_init(&b2, 1 << 24);
  if (bg_json_parse((const char *)data, size, &doc, &err) != 0) {
    FUZZ_ASSERT(err.code != 0 && err.msg[0] != '\0');
    goto out;
  }
  visit(bg_json_root(doc));
  FUZZ_ASSERT(bg_json_write(&b1, bg_json_root(doc), &err) == 0);
  FUZZ_ASSERT(bg_json_parse(b1.data, b1.len, &again, &err) == 0);
  FUZZ_ASSERT(bg_json_write(&b2, bg_json_root(again), &err) == 0);
  FUZZ_ASSERT(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
out:
  bg_json_free(doc);
  bg_json_free(again);
  bg_buf_free(&b1);
  bg_buf_free(&b2);
  return 0;
}
