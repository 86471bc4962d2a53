/* JSON documents through jansson, with the caps an untrusted document needs. Manifests, token
 * replies, index.json and credential files all come from someone else: nesting depth and the
 * number of values are checked before jansson allocates anything, duplicate member names are
 * refused (two parsers must never read one document two ways), strings are UTF-8 without NUL. */
#ifndef BG_JSON_H
#define BG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "error.h"

#define BG_JSON_MAX_DEPTH 64
#define BG_JSON_MAX_VALUES 200000

/* Parses n bytes into *out (the caller json_decref()s it). On failure BG_EINVAL
 * "invalid JSON at byte N: why" (BG_ETOOBIG for the caps) and *out is NULL. */
int bg_json_parse(const char *s, size_t n, json_t **out, struct bg_error *err);

/* Member key of obj as a string, or NULL when obj is not an object, or key is missing or not a
 * string. */
const char *bg_json_getstr(const json_t *obj, const char *key);

/* A non-negative integer: 0 and *out set, or -1. */
int bg_json_uint(const json_t *v, uint64_t *out);

/* Appends v in compact form (no spaces, members in the order they were added). */
int bg_json_dump(struct bg_buf *b, const json_t *v, struct bg_error *err);

#endif
