#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/escape.h"
#include "../util/json.h"

static int is_schema1(const char *mt)
{
  return mt != NULL && strncmp(mt, "application/vnd.docker.distribution.manifest.v1", 47) == 0;
}

static int known(const char *mt)
{
  return mt != NULL && (!strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_OCI_INDEX) ||
                        !strcmp(mt, MT_DOCKER_MANIFEST) || !strcmp(mt, MT_DOCKER_LIST));
}

static void normalise_arch(struct bg_platform *p)
{
  if (!strcmp(p->arch, "x86_64") || !strcmp(p->arch, "x86-64"))
    memcpy(p->arch, "amd64", 6);
  else if (!strcmp(p->arch, "aarch64"))
    memcpy(p->arch, "arm64", 6);
}

/* The variant an entry without one implies (containerd's platforms.Normalize). */
static const char *implied_variant(const struct bg_platform *p)
{
  if (p->variant[0] != '\0')
    return p->variant;
  if (!strcmp(p->arch, "arm64"))
    return "v8";
  if (!strcmp(p->arch, "arm"))
    return "v7";
  return "";
}

static int set_str(char *dst, size_t cap, const char *s)
{
  size_t n = s ? strlen(s) : 0;

  if (n >= cap)
    return -1;
  memcpy(dst, s ? s : "", n);
  dst[n] = '\0';
  return 0;
}

int bg_descriptor_parse(const json_t *v, struct bg_descriptor *d, const char *what, size_t i,
                        struct bg_error *err)
{
  const char *mt = bg_json_getstr(v, "mediaType");
  const char *ds = bg_json_getstr(v, "digest");
  const json_t *p;
  const char *rt;

  memset(d, 0, sizeof(*d));
  if (!json_is_object(v))
    return bg_error_set(err, BG_EINVAL, "%s %zu is not an object", what, i);
  if (mt == NULL || set_str(d->media_type, sizeof(d->media_type), mt) != 0)
    return bg_error_set(err, BG_EINVAL, "%s %zu has no valid mediaType", what, i);
  if (ds == NULL)
    return bg_error_set(err, BG_EINVAL, "%s %zu has no digest", what, i);
  if (bg_digest_parse(ds, &d->digest, err) != 0)
    return bg_error_prefix(err, "%s %zu", what, i);
  if (bg_json_uint(json_object_get(v, "size"), &d->size) != 0)
    return bg_error_set(err, BG_EINVAL, "%s %zu has no valid size", what, i);
  p = json_object_get(v, "platform");
  if (p != NULL) {
    if (set_str(d->platform.os, sizeof(d->platform.os), bg_json_getstr(p, "os")) != 0 ||
        set_str(d->platform.arch, sizeof(d->platform.arch), bg_json_getstr(p, "architecture")) ||
        set_str(d->platform.variant, sizeof(d->platform.variant), bg_json_getstr(p, "variant")))
      return bg_error_set(err, BG_EINVAL, "%s %zu has an oversized platform", what, i);
    normalise_arch(&d->platform);
  }
  rt = bg_json_getstr(json_object_get(v, "annotations"), "vnd.docker.reference.type");
  if ((rt != NULL && !strcmp(rt, "attestation-manifest")) ||
      (!strcmp(d->platform.os, "unknown") && !strcmp(d->platform.arch, "unknown")))
    d->attestation = 1;
  return 0;
}

int bg_manifest_parse(const char *body, size_t len, const char *content_type,
                      struct bg_manifest *m, struct bg_error *err)
{
  json_t *root = NULL;
  const json_t *list, *v;
  const char *jm, *ct = content_type && content_type[0] ? content_type : NULL;
  const char *mt;
  char e1[128], e2[128];
  uint64_t sv = 0;
  size_t i, n = 0;
  int rc = -1;

  memset(m, 0, sizeof(*m));
  if (is_schema1(ct))
    return bg_error_set(err, BG_EINVAL, "Docker schema 1 manifests (%s) are not supported; "
                        "push the image again with a current client",
                        bg_escape_str(ct, e1, sizeof(e1)));
  if (bg_json_parse(body, len, &root, err) != 0) {
    bg_error_prefix(err, "manifest");
    return -1;
  }
  if (!json_is_object(root)) {
    bg_error_set(err, BG_EINVAL, "manifest is not a JSON object");
    goto out;
  }
  jm = bg_json_getstr(root, "mediaType");
  bg_json_uint(json_object_get(root, "schemaVersion"), &sv);
  if (is_schema1(jm) || sv == 1) {
    bg_error_set(err, BG_EINVAL, "Docker schema 1 manifests are not supported; push the image "
                 "again with a current client");
    goto out;
  }
  if (sv != 2) {
    bg_error_set(err, BG_EINVAL, "manifest has schemaVersion %llu, expected 2",
                 (unsigned long long)sv);
    goto out;
  }
  if (jm != NULL && ct != NULL && known(ct) && strcmp(jm, ct) != 0) {
    bg_error_set(err, BG_EINVAL, "manifest mediaType %s disagrees with Content-Type %s",
                 bg_escape_str(jm, e1, sizeof(e1)), ct);
    goto out;
  }
  mt = jm ? jm : known(ct) ? ct : NULL;
  if (mt == NULL)
    mt = json_object_get(root, "manifests") ? MT_OCI_INDEX : MT_OCI_MANIFEST;
  if (!known(mt)) {
    bg_error_set(err, BG_EINVAL, "unsupported manifest media type %s",
                 bg_escape_str(mt, e1, sizeof(e1)));
    goto out;
  }
  if (ct != NULL && !known(ct) && strcmp(ct, "application/json") != 0 &&
      strcmp(ct, "application/octet-stream") != 0) {
    bg_error_set(err, BG_EINVAL, "manifest served with Content-Type %s",
                 bg_escape_str(ct, e2, sizeof(e2)));
    goto out;
  }
  set_str(m->media_type, sizeof(m->media_type), mt);
  m->kind = (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST)) ? BG_MANIFEST_INDEX
                                                                       : BG_MANIFEST_IMAGE;
  list = json_object_get(root, m->kind == BG_MANIFEST_INDEX ? "manifests" : "layers");
  if (!json_is_array(list)) {
    bg_error_set(err, BG_EINVAL, "manifest has no %s array",
                 m->kind == BG_MANIFEST_INDEX ? "manifests" : "layers");
    goto out;
  }
  n = json_array_size(list);
  if (n > (m->kind == BG_MANIFEST_INDEX ? BG_MAX_INDEX_ENTRIES : BG_MAX_LAYERS)) {
    bg_error_set(err, BG_ETOOBIG, "manifest lists %zu entries, more than allowed", n);
    goto out;
  }
  if (m->kind == BG_MANIFEST_IMAGE &&
      bg_descriptor_parse(json_object_get(root, "config"), &m->config, "config", 0, err) != 0)
    goto out;
  m->items = calloc(n ? n : 1, sizeof(*m->items));
  if (m->items == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  json_array_foreach(list, i, v) {
    if (bg_descriptor_parse(v, &m->items[i], m->kind == BG_MANIFEST_INDEX ? "manifest" : "layer",
                            i, err) != 0)
      goto out;
  }
  m->n = n;
  rc = 0;
out:
  if (rc != 0)
    bg_manifest_free(m);
  json_decref(root);
  return rc;
}

void bg_manifest_free(struct bg_manifest *m)
{
  free(m->items);
  m->items = NULL;
  m->n = 0;
}

int bg_platform_parse(const char *s, struct bg_platform *p, struct bg_error *err)
{
  const char *a, *b;
  size_t i;

  memset(p, 0, sizeof(*p));
  a = strchr(s, '/');
  b = a ? strchr(a + 1, '/') : NULL;
  if (a == NULL || a == s || a[1] == '\0' || b == a + 1 ||
      (b != NULL && (b[1] == '\0' || strchr(b + 1, '/'))) ||
      (size_t)(a - s) >= sizeof(p->os) ||
      (size_t)((b ? b : a + strlen(a)) - a - 1) >= sizeof(p->arch) ||
      (b && strlen(b + 1) >= sizeof(p->variant)))
    return bg_error_set(err, BG_EINVAL, "invalid platform '%.64s': expected os/arch[/variant]",
                        s);
  for (i = 0; s[i] != '\0'; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '/' ||
          s[i] == '_' || s[i] == '-' || s[i] == '.'))
      return bg_error_set(err, BG_EINVAL, "invalid platform '%.64s'", s);
  memcpy(p->os, s, (size_t)(a - s));
  if (b != NULL) {
    memcpy(p->arch, a + 1, (size_t)(b - a - 1));
    memcpy(p->variant, b + 1, strlen(b + 1));
  } else {
    memcpy(p->arch, a + 1, strlen(a + 1));
  }
  normalise_arch(p);
  return 0;
}

void bg_platform_format(const struct bg_platform *p, char *out, size_t cap)
{
  snprintf(out, cap, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
}

int bg_platform_fits(const struct bg_platform *have, const struct bg_platform *want)
{
  struct bg_platform h = *have;

  normalise_arch(&h);
  if (strcmp(h.os, want->os) != 0 || strcmp(h.arch, want->arch) != 0)
    return 0;
  return want->variant[0] == '\0' || h.variant[0] == '\0' ||
         strcmp(implied_variant(&h), implied_variant(want)) == 0;
}

int bg_manifest_select(const struct bg_manifest *idx, const struct bg_platform *want,
                       size_t *index, struct bg_error *err)
{
  const struct bg_platform *q;
  char have[512] = "", one[100];
  size_t i, len = 0;
  int best = -1, exact;

  for (i = 0; i < idx->n; i++) {
    q = &idx->items[i].platform;
    if (idx->items[i].attestation)
      continue;
    if (strcmp(q->os, want->os) != 0 || strcmp(q->arch, want->arch) != 0)
      continue;
    exact = strcmp(implied_variant(q), implied_variant(want)) == 0;
    if (want->variant[0] != '\0' && !exact)
      continue;
    if (exact) {
      best = (int)i;
      break;
    }
    if (best < 0)
      best = (int)i;
  }
  if (best >= 0) {
    *index = (size_t)best;
    return 0;
  }
  for (i = 0; i < idx->n && len + 100 < sizeof(have); i++) {
    if (idx->items[i].attestation)
      continue;
    bg_platform_format(&idx->items[i].platform, one, sizeof(one));
    len += (size_t)snprintf(have + len, sizeof(have) - len, "%s%s", len ? ", " : "", one);
  }
  bg_platform_format(want, one, sizeof(one));
  return bg_error_set(err, BG_ENOTFOUND, "no image for platform %s (the index has: %s)", one,
                      len ? have : "nothing");
}

int bg_config_parse(const char *body, size_t len, size_t nlayers,
                    char (*diff_ids)[BG_DIGEST_STRLEN], struct bg_platform *plat, json_t **doc,
                    struct bg_error *err)
{
  json_t *root = NULL;
  const json_t *ids, *v;
  struct bg_digest d;
  size_t i;
  int rc = -1;

  if (doc != NULL)
    *doc = NULL;
  if (bg_json_parse(body, len, &root, err) != 0) {
    bg_error_prefix(err, "image config");
    return -1;
  }
  memset(plat, 0, sizeof(*plat));
  if (!json_is_object(root)) {
    bg_error_set(err, BG_EINVAL, "image config is not a JSON object");
    goto out;
  }
  set_str(plat->os, sizeof(plat->os), bg_json_getstr(root, "os"));
  set_str(plat->arch, sizeof(plat->arch), bg_json_getstr(root, "architecture"));
  set_str(plat->variant, sizeof(plat->variant), bg_json_getstr(root, "variant"));
  ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
  if (!json_is_array(ids)) {
    bg_error_set(err, BG_EINVAL, "image config has no rootfs.diff_ids");
    goto out;
  }
  if (json_array_size(ids) != nlayers) {
    bg_error_set(err, BG_EINVAL, "image config lists %zu diff_ids for %zu layers",
                 json_array_size(ids), nlayers);
    goto out;
  }
  json_array_foreach(ids, i, v) {
    if (bg_digest_parse(json_string_value(v), &d, err) != 0) {
      bg_error_prefix(err, "image config diff_id %zu", i);
      goto out;
    }
    memcpy(diff_ids[i], json_string_value(v), BG_DIGEST_STRLEN);
  }
  rc = 0;
out:
  if (rc == 0 && doc != NULL)
    *doc = root;
  else
    json_decref(root);
  return rc;
}
