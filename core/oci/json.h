/* A small bounded JSON parser and writer for manifests, token replies and index.json.
 * Every document comes from the network or a file someone else wrote: depth and node
 * counts are capped, strings are decoded to UTF-8 and may not hold NUL. */
#ifndef BG_OCI_JSON_H
#define BG_OCI_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/error.h"

#define BG_JSON_MAX_DEPTH 64
#define BG_JSON_MAX_NODES 200000

enum bg_json_type {
  BG_JSON_NULL,
  BG_JSON_FALSE,
  BG_JSON_TRUE,
  BG_JSON_NUMBER,
  BG_JSON_STRING,
  BG_JSON_ARRAY,
  BG_JSON_OBJECT,
};

struct bg_json {
  int type;
  char *key;              /* member name when the parent is an object */
  char *str;              /* STRING: decoded text; NUMBER: the literal as written */
  size_t len;             /* STRING: length of str */
  struct bg_json *child;  /* ARRAY/OBJECT: first element or member */
  struct bg_json *next;   /* next sibling */
};

struct bg_json_doc; /* owns every node and string of one parsed document */

/* Parses n bytes. On failure BG_EINVAL "invalid JSON at byte N: why". */
int bg_json_parse(const char *s, size_t n, struct bg_json_doc **out, struct bg_error *err);
const struct bg_json *bg_json_root(const struct bg_json_doc *doc);
void bg_json_free(struct bg_json_doc *doc);

/* Member of an object (the last one if repeated), or NULL. */
const struct bg_json *bg_json_get(const struct bg_json *obj, const char *key);
/* The string value, or NULL if v is not a string. */
const char *bg_json_str(const struct bg_json *v);
/* Member key as a string, or NULL if missing or not a string. */
const char *bg_json_getstr(const struct bg_json *obj, const char *key);
/* Non-negative integer (no fraction or exponent) up to 2^63-1; -1 if not one. */
int bg_json_uint(const struct bg_json *v, uint64_t *out);

/* Appends s as a JSON string literal. */
int bg_json_write_str(struct bg_buf *b, const char *s, struct bg_error *err);
/* Appends v (and its children) in compact form. */
int bg_json_write(struct bg_buf *b, const struct bg_json *v, struct bg_error *err);

#endif
