#include "ref.h"

#include <stdio.h>
#include <string.h>

static int is_lower_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static int valid_component(const char *s, size_t n)
{
  size_t i = 0, j;

  if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
    return 0;
  while (i < n) {
    if (is_lower_alnum(s[i])) {
      i++;
      continue;
    }
    j = i;
    if (s[i] == '.') {
      j = i + 1;
    } else if (s[i] == '_') {
      j = i + 1;
      if (j < n && s[j] == '_')
        j++;
    } else if (s[i] == '-') {
      while (j < n && s[j] == '-')
        j++;
    } else {
      return 0;
    }
    if (j >= n || !is_lower_alnum(s[j]))
      return 0;
    i = j;
  }
  return 1;
}

static int valid_repository(const char *s)
{
  const char *p = s, *slash;

  for (;;) {
    slash = strchr(p, '/');
    if (!valid_component(p, slash ? (size_t)(slash - p) : strlen(p)))
      return 0;
    if (slash == NULL)
      return 1;
    p = slash + 1;
  }
}

/* host (dns labels or [ipv6]) with an optional :port */
static int valid_domain(const char *s, size_t n)
{
  size_t i = 0, label = 0;

  if (n == 0)
    return 0;
  if (s[0] == '[') {
    for (i = 1; i < n && s[i] != ']'; i++)
      if (!(is_alnum(s[i]) || s[i] == ':' || s[i] == '.'))
        return 0;
    if (i >= n || i == 1)
      return 0;
    i++;
  } else {
    for (; i < n && s[i] != ':'; i++) {
      if (s[i] == '.') {
        if (label == 0 || s[i - 1] == '-')
          return 0;
        label = 0;
      } else if (is_alnum(s[i]) || (s[i] == '-' && label > 0)) {
        label++;
      } else {
        return 0;
      }
    }
    if (label == 0 || s[i - 1] == '-')
      return 0;
  }
  if (i == n)
    return 1;
  if (s[i] != ':' || i + 1 == n)
    return 0;
  for (i++; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

/* tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static int valid_tag(const char *s)
{
  size_t i, n = strlen(s);

  if (n == 0 || n > BG_REF_TAG_MAX || !(is_alnum(s[0]) || s[0] == '_'))
    return 0;
  for (i = 1; i < n; i++)
    if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
      return 0;
  return 1;
}

static int copy(char *dst, size_t cap, const char *src, size_t n)
{
  if (n >= cap)
    return -1;
  memcpy(dst, src, n);
  dst[n] = '\0';
  return 0;
}

static int bad(struct bg_error *err, const char *s, const char *why)
{
  return bg_error_set(err, BG_EINVAL, "invalid reference '%.300s': %s", s, why);
}

static int parse_local(const char *s, const char *rest, int transport, struct bg_oci_ref *ref,
                       struct bg_error *err)
{
  const char *colon = strchr(rest, ':');
  size_t n = colon ? (size_t)(colon - rest) : strlen(rest);
  int w;

  ref->transport = transport;
  if (n == 0)
    return bad(err, s, "no path given");
  if (copy(ref->path, sizeof(ref->path), rest, n) != 0)
    return bad(err, s, "path too long");
  if (colon != NULL) {
    if (transport == BG_REF_DOCKER_ARCHIVE) {
      /* docker-archive:FILE:name:tag picks an image; keep it as given */
      if (copy(ref->tag, sizeof(ref->tag), colon + 1, strlen(colon + 1)) != 0)
        return bad(err, s, "image name too long");
    } else {
      /* oci layouts name images with org.opencontainers.image.ref.name, which may hold ':' */
      if (colon[1] == '\0')
        return bad(err, s, "empty tag");
      if (copy(ref->tag, sizeof(ref->tag), colon + 1, strlen(colon + 1)) != 0)
        return bad(err, s, "tag too long");
    }
  }
  w = snprintf(ref->name, sizeof(ref->name), "%s:%s%s%s", bg_oci_transport_name(transport),
               ref->path, ref->tag[0] ? ":" : "", ref->tag);
  if (w < 0 || (size_t)w >= sizeof(ref->name))
    return bad(err, s, "too long");
  return 0;
}

int bg_oci_ref_parse(const char *s, struct bg_oci_ref *ref, struct bg_error *err)
{
  char buf[BG_REF_NAME_MAX + BG_REF_TAG_MAX + BG_DIGEST_STRLEN + 8];
  const char *remote, *first_slash, *last_slash;
  char *at, *colon;
  struct bg_digest d;
  struct bg_error derr;
  size_t n;
  int w;

  memset(ref, 0, sizeof(*ref));
  if (s == NULL || s[0] == '\0')
    return bg_error_set(err, BG_EINVAL, "invalid reference '': empty");
  if (strncmp(s, "oci:", 4) == 0)
    return parse_local(s, s + 4, BG_REF_OCI_DIR, ref, err);
  if (strncmp(s, "oci-archive:", 12) == 0)
    return parse_local(s, s + 12, BG_REF_OCI_ARCHIVE, ref, err);
  if (strncmp(s, "docker-archive:", 15) == 0)
    return parse_local(s, s + 15, BG_REF_DOCKER_ARCHIVE, ref, err);
  remote = s;
  if (strncmp(s, "docker://", 9) == 0)
    remote = s + 9;
  ref->transport = BG_REF_DOCKER;
  n = strlen(remote);
  if (n >= sizeof(buf))
    return bad(err, s, "too long");
  memcpy(buf, remote, n + 1);

  at = strchr(buf, '@');
  if (at != NULL) {
    *at = '\0';
    bg_error_clear(&derr);
    if (bg_digest_parse(at + 1, &d, &derr) != 0)
      return bad(err, s, derr.msg);
    memcpy(ref->digest, at + 1, BG_DIGEST_STRLEN);
  }
  /* a tag is after the last ':' that follows the last '/' (a ':' before it is a port) */
  last_slash = strrchr(buf, '/');
  colon = strrchr(last_slash ? last_slash : buf, ':');
  if (colon != NULL) {
    *colon = '\0';
    if (!valid_tag(colon + 1))
      return bad(err, s, "invalid tag");
    memcpy(ref->tag, colon + 1, strlen(colon + 1) + 1);
  }
  first_slash = strchr(buf, '/');
  if (first_slash != NULL) {
    n = (size_t)(first_slash - buf);
    /* Docker's rule: the first component is a registry if it has '.' or ':', is "localhost",
     * or has upper case (repositories never do) */
    if (memchr(buf, '.', n) || memchr(buf, ':', n) || (n == 9 && !memcmp(buf, "localhost", 9)) ||
        buf[0] == '[') {
      if (!valid_domain(buf, n))
        return bad(err, s, "invalid registry host");
      copy(ref->registry, sizeof(ref->registry), buf, n);
      remote = first_slash + 1;
    } else {
      for (size_t i = 0; i < n; i++)
        if (buf[i] >= 'A' && buf[i] <= 'Z') {
          if (!valid_domain(buf, n))
            return bad(err, s, "invalid registry host");
          copy(ref->registry, sizeof(ref->registry), buf, n);
          break;
        }
      remote = ref->registry[0] ? first_slash + 1 : buf;
    }
  } else {
    remote = buf;
  }
  if (ref->registry[0] == '\0' || strcmp(ref->registry, "index.docker.io") == 0 ||
      strcmp(ref->registry, "registry-1.docker.io") == 0)
    memcpy(ref->registry, "docker.io", sizeof("docker.io"));
  if (remote[0] == '\0')
    return bad(err, s, "no repository");
  if (!valid_repository(remote))
    return bad(err, s, "repository must be lower-case letters, digits and separators");
  if (strcmp(ref->registry, "docker.io") == 0 && strchr(remote, '/') == NULL)
    w = snprintf(ref->repository, sizeof(ref->repository), "library/%s", remote);
  else
    w = snprintf(ref->repository, sizeof(ref->repository), "%s", remote);
  if (w < 0 || (size_t)w >= sizeof(ref->repository) ||
      strlen(ref->registry) + 1 + strlen(ref->repository) > BG_REF_NAME_MAX)
    return bad(err, s, "name longer than 255 characters");
  if (ref->tag[0] == '\0' && ref->digest[0] == '\0')
    memcpy(ref->tag, "latest", sizeof("latest"));
  w = snprintf(ref->name, sizeof(ref->name), "%s/%s%s%s%s%s", ref->registry, ref->repository,
               ref->tag[0] ? ":" : "", ref->tag, ref->digest[0] ? "@" : "", ref->digest);
  if (w < 0 || (size_t)w >= sizeof(ref->name))
    return bad(err, s, "too long");
  return 0;
}

const char *bg_oci_transport_name(int transport)
{
  switch (transport) {
  case BG_REF_OCI_DIR:
    return "oci";
  case BG_REF_OCI_ARCHIVE:
    return "oci-archive";
  case BG_REF_DOCKER_ARCHIVE:
    return "docker-archive";
  default:
    return "docker";
  }
}

const char *bg_oci_ref_api_host(const struct bg_oci_ref *ref)
{
  if (strcmp(ref->registry, "docker.io") == 0)
    return "registry-1.docker.io";
  return ref->registry;
}

int bg_oci_host_is_loopback(const char *hostport)
{
  size_t n;
  const char *end;
  int dots = 0;

  if (strncmp(hostport, "[::1]", 5) == 0)
    return hostport[5] == '\0' || hostport[5] == ':';
  end = strchr(hostport, ':');
  n = end ? (size_t)(end - hostport) : strlen(hostport);
  if (n == 9 && strncmp(hostport, "localhost", 9) == 0)
    return 1;
  if (n < 4 || strncmp(hostport, "127.", 4) != 0)
    return 0;
  /* 127.a.b.c with numeric parts only */
  for (size_t i = 4; i < n; i++) {
    if (hostport[i] == '.')
      dots++;
    else if (hostport[i] < '0' || hostport[i] > '9')
      return 0;
  }
  return dots == 2;
}
