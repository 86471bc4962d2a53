#include "json.h"

#include <stdlib.h>
#include <string.h>

/* Nodes and strings live in chunks freed together; no per-node free path to get wrong. */
struct chunk {
  struct chunk *next;
  size_t used, cap;
  char data[];
};

struct bg_json_doc {
  struct chunk *chunks;
  struct bg_json *root;
  size_t nodes;
};

struct parser {
  const char *s;
  size_t n, pos;
  struct bg_json_doc *doc;
  struct bg_error *err;
};

static void *doc_alloc(struct bg_json_doc *doc, size_t size)
{
  struct chunk *c = doc->chunks;
  size_t cap;
  void *p;

  size = (size + 15) & ~(size_t)15;
  if (c == NULL || c->cap - c->used < size) {
    cap = size > 65536 ? size : 65536;
    c = malloc(sizeof(*c) + cap);
    if (c == NULL)
      return NULL;
    c->used = 0;
    c->cap = cap;
    c->next = doc->chunks;
    doc->chunks = c;
  }
  p = c->data + c->used;
  c->used += size;
  return p;
}

static int fail(struct parser *p, const char *why)
{
  return bg_error_set(p->err, BG_EINVAL, "invalid JSON at byte %zu: %s", p->pos, why);
}

static void skip_ws(struct parser *p)
{
  while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                           p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
    p->pos++;
}

static struct bg_json *new_node(struct parser *p, int type)
{
  struct bg_json *v;

  if (++p->doc->nodes > BG_JSON_MAX_NODES) {
    fail(p, "too many values");
    return NULL;
  }
  v = doc_alloc(p->doc, sizeof(*v));
  if (v == NULL) {
    bg_error_set(p->err, BG_ENOMEM, "out of memory parsing JSON");
    return NULL;
  }
  memset(v, 0, sizeof(*v));
  v->type = type;
  return v;
}

static int hex4(const char *s, unsigned *out)
{
  unsigned v = 0;
  int i;

  for (i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* p->pos is at the opening quote. Decoded text is never longer than the literal. */
static int parse_string(struct parser *p, char **out, size_t *outlen)
{
  size_t start = ++p->pos, end = start, len = 0;
  unsigned cp, lo;
  char *o;

  while (end < p->n && p->s[end] != '"') {
    if ((unsigned char)p->s[end] < 0x20) {
      p->pos = end;
      return fail(p, "control character in string");
    }
    end += p->s[end] == '\\' ? 2 : 1;
  }
  if (end >= p->n) {
    p->pos = p->n;
    return fail(p, "unterminated string");
  }
  o = doc_alloc(p->doc, end - start + 1);
  if (o == NULL)
    return bg_error_set(p->err, BG_ENOMEM, "out of memory parsing JSON");
  while (p->pos < end) {
    char c = p->s[p->pos];
    if (c != '\\') {
      o[len++] = c;
      p->pos++;
      continue;
    }
    c = p->s[p->pos + 1];
    p->pos += 2;
    switch (c) {
    case '"': case '\\': case '/':
      o[len++] = c;
      break;
    case 'b': o[len++] = '\b'; break;
    case 'f': o[len++] = '\f'; break;
    case 'n': o[len++] = '\n'; break;
    case 'r': o[len++] = '\r'; break;
    case 't': o[len++] = '\t'; break;
    case 'u':
      if (p->pos + 4 > end || hex4(p->s + p->pos, &cp) != 0)
        return fail(p, "bad \\u escape");
      p->pos += 4;
      if (cp >= 0xd800 && cp < 0xdc00) {
        if (p->pos + 6 > end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
            hex4(p->s + p->pos + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
          return fail(p, "unpaired surrogate");
        p->pos += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xdc00 && cp < 0xe000) {
        return fail(p, "unpaired surrogate");
      }
      if (cp == 0)
        return fail(p, "NUL in string");
      len += put_utf8(o + len, cp);
      break;
    default:
      return fail(p, "bad escape");
    }
  }
  o[len] = '\0';
  p->pos = end + 1;
  *out = o;
  *outlen = len;
  return 0;
}

static int parse_number(struct parser *p, struct bg_json *v)
{
  size_t start = p->pos;
  const char *s = p->s;

  if (p->pos < p->n && s[p->pos] == '-')
    p->pos++;
  if (p->pos >= p->n || s[p->pos] < '0' || s[p->pos] > '9')
    return fail(p, "bad number");
  if (s[p->pos] == '0')
    p->pos++;
  else
    while (p->pos < p->n && s[p->pos] >= '0' && s[p->pos] <= '9')
      p->pos++;
  if (p->pos < p->n && s[p->pos] == '.') {
    p->pos++;
    if (p->pos >= p->n || s[p->pos] < '0' || s[p->pos] > '9')
      return fail(p, "bad number");
    while (p->pos < p->n && s[p->pos] >= '0' && s[p->pos] <= '9')
      p->pos++;
  }
  if (p->pos < p->n && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
    p->pos++;
    if (p->pos < p->n && (s[p->pos] == '+' || s[p->pos] == '-'))
      p->pos++;
    if (p->pos >= p->n || s[p->pos] < '0' || s[p->pos] > '9')
      return fail(p, "bad number");
    while (p->pos < p->n && s[p->pos] >= '0' && s[p->pos] <= '9')
      p->pos++;
  }
  v->str = doc_alloc(p->doc, p->pos - start + 1);
  if (v->str == NULL)
    return bg_error_set(p->err, BG_ENOMEM, "out of memory parsing JSON");
  memcpy(v->str, s + start, p->pos - start);
  v->str[p->pos - start] = '\0';
  v->len = p->pos - start;
  return 0;
}

static int literal(struct parser *p, const char *word)
{
  size_t n = strlen(word);

  if (p->n - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
    return fail(p, "unexpected character");
  p->pos += n;
  return 0;
}

static int parse_value(struct parser *p, int depth, struct bg_json **out)
{
  struct bg_json *v = NULL, *last = NULL, *item;
  char c;

  skip_ws(p);
  if (p->pos >= p->n)
    return fail(p, "unexpected end");
  if (depth > BG_JSON_MAX_DEPTH)
    return fail(p, "nested too deeply");
  c = p->s[p->pos];
  switch (c) {
  case '{':
  case '[':
    v = new_node(p, c == '{' ? BG_JSON_OBJECT : BG_JSON_ARRAY);
    if (v == NULL)
      return -1;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == (c == '{' ? '}' : ']')) {
      p->pos++;
      break;
    }
    for (;;) {
      char *key = NULL;
      size_t keylen;
      skip_ws(p);
      if (c == '{') {
        if (p->pos >= p->n || p->s[p->pos] != '"')
          return fail(p, "expected a member name");
        if (parse_string(p, &key, &keylen) != 0)
          return -1;
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != ':')
          return fail(p, "expected ':'");
        p->pos++;
      }
      if (parse_value(p, depth + 1, &item) != 0)
        return -1;
      item->key = key;
      if (last == NULL)
        v->child = item;
      else
        last->next = item;
      last = item;
      skip_ws(p);
      if (p->pos < p->n && p->s[p->pos] == ',') {
        p->pos++;
        continue;
      }
      if (p->pos < p->n && p->s[p->pos] == (c == '{' ? '}' : ']')) {
        p->pos++;
        break;
      }
      return fail(p, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    break;
  case '"':
    v = new_node(p, BG_JSON_STRING);
    if (v == NULL || parse_string(p, &v->str, &v->len) != 0)
      return -1;
    break;
  case 't':
  case 'f':
  case 'n':
    v = new_node(p, c == 't' ? BG_JSON_TRUE : c == 'f' ? BG_JSON_FALSE : BG_JSON_NULL);
    if (v == NULL || literal(p, c == 't' ? "true" : c == 'f' ? "false" : "null") != 0)
      return -1;
    break;
  default:
    v = new_node(p, BG_JSON_NUMBER);
    if (v == NULL || parse_number(p, v) != 0)
      return -1;
  }
  *out = v;
  return 0;
}

int bg_json_parse(const char *s, size_t n, struct bg_json_doc **out, struct bg_error *err)
{
  struct parser p = {s, n, 0, NULL, err};

  *out = NULL;
  p.doc = calloc(1, sizeof(*p.doc));
  if (p.doc == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory parsing JSON");
  if (parse_value(&p, 0, &p.doc->root) != 0)
    goto fail;
  skip_ws(&p);
  if (p.pos != n) {
    fail(&p, "trailing data");
    goto fail;
  }
  *out = p.doc;
  return 0;
fail:
  bg_json_free(p.doc);
  return -1;
}

const struct bg_json *bg_json_root(const struct bg_json_doc *doc)
{
  return doc->root;
}

void bg_json_free(struct bg_json_doc *doc)
{
  struct chunk *c, *next;

  if (doc == NULL)
    return;
  for (c = doc->chunks; c != NULL; c = next) {
    next = c->next;
    free(c);
  }
  free(doc);
}

const struct bg_json *bg_json_get(const struct bg_json *obj, const char *key)
{
  const struct bg_json *v, *found = NULL;

  if (obj == NULL || obj->type != BG_JSON_OBJECT)
    return NULL;
  for (v = obj->child; v != NULL; v = v->next)
    if (strcmp(v->key, key) == 0)
      found = v;
  return found;
}

const char *bg_json_str(const struct bg_json *v)
{
  return v != NULL && v->type == BG_JSON_STRING ? v->str : NULL;
}

const char *bg_json_getstr(const struct bg_json *obj, const char *key)
{
  return bg_json_str(bg_json_get(obj, key));
}

int bg_json_uint(const struct bg_json *v, uint64_t *out)
{
  uint64_t x = 0;
  size_t i;

  if (v == NULL || v->type != BG_JSON_NUMBER || v->str[0] == '-')
    return -1;
  for (i = 0; v->str[i] != '\0'; i++) {
    if (v->str[i] < '0' || v->str[i] > '9')
      return -1;
    if (x > (UINT64_C(0x7fffffffffffffff) - (uint64_t)(v->str[i] - '0')) / 10)
      return -1;
    x = x * 10 + (uint64_t)(v->str[i] - '0');
  }
  *out = x;
  return 0;
}

int bg_json_write_str(struct bg_buf *b, const char *s, struct bg_error *err)
{
  static const char hexd[] = "0123456789abcdef";
  char esc[7];
  const char *run = s;

  if (bg_buf_add(b, "\"", 1, err) != 0)
    return -1;
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    if (bg_buf_add(b, run, (size_t)(s - run), err) != 0)
      return -1;
    run = s + 1;
    esc[0] = '\\';
    if (c == '"' || c == '\\') {
      esc[1] = (char)c;
      esc[2] = '\0';
    } else {
      memcpy(esc + 1, "u00", 3);
      esc[4] = hexd[c >> 4];
      esc[5] = hexd[c & 15];
      esc[6] = '\0';
    }
    if (bg_buf_addstr(b, esc, err) != 0)
      return -1;
  }
  if (bg_buf_add(b, run, (size_t)(s - run), err) != 0)
    return -1;
  return bg_buf_add(b, "\"", 1, err);
}

int bg_json_write(struct bg_buf *b, const struct bg_json *v, struct bg_error *err)
{
  const struct bg_json *c;
  int obj;

  switch (v->type) {
  case BG_JSON_NULL:
    return bg_buf_addstr(b, "null", err);
  case BG_JSON_TRUE:
    return bg_buf_addstr(b, "true", err);
  case BG_JSON_FALSE:
    return bg_buf_addstr(b, "false", err);
  case BG_JSON_NUMBER:
    return bg_buf_addstr(b, v->str, err);
  case BG_JSON_STRING:
    return bg_json_write_str(b, v->str, err);
  default:
    obj = v->type == BG_JSON_OBJECT;
    if (bg_buf_add(b, obj ? "{" : "[", 1, err) != 0)
      return -1;
    for (c = v->child; c != NULL; c = c->next) {
      if (c != v->child && bg_buf_add(b, ",", 1, err) != 0)
        return -1;
      if (obj && (bg_json_write_str(b, c->key, err) != 0 || bg_buf_add(b, ":", 1, err) != 0))
        return -1;
      if (bg_json_write(b, c, err) != 0)
        return -1;
    }
    return bg_buf_add(b, obj ? "}" : "]", 1, err);
  }
}
