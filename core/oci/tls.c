/* Certificates for a registry: a private CA without turning verification off, the way Docker
 * and containers/image read them, plus SSL_CERT_FILE / SSL_CERT_DIR for every request. */
#include "session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/buf.h"

#define PEM_MAX (16 << 20)
#define CERTS_FILES_MAX 100

static const char *env(const char *name)
{
  const char *v = getenv(name);

  return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The first certs.d/<name> directory that exists, into out; 0 when there is none. */
static int find_dir(const char *name, char *out, size_t cap)
{
  static const char *const sys[] = {"/etc/containers/certs.d", "/etc/docker/certs.d"};
  const char *home = env("HOME");
  struct stat st;
  size_t i;

  if (strchr(name, '/') != NULL || name[0] == '.')
    return 0;
  if (home != NULL) {
    snprintf(out, cap, "%s/.config/containers/certs.d/%s", home, name);
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
      return 1;
  }
  for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
    snprintf(out, cap, "%s/%s", sys[i], name);
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
      return 1;
  }
  return 0;
}

static int ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), k = strlen(suffix);

  return n > k && strcmp(s + n - k, suffix) == 0;
}

static int cmp_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The base bundle: $SSL_CERT_FILE, else the one libcurl was built with. */
static int read_base(struct bg_buf *pem, struct bg_error *err)
{
  const char *path = env("SSL_CERT_FILE");
  char *def = NULL;
  CURL *e;
  int rc;

  if (path == NULL) {
    e = curl_easy_init();
    if (e != NULL && curl_easy_getinfo(e, CURLINFO_CAINFO, &def) == CURLE_OK && def != NULL)
      def = strdup(def);
    else
      def = NULL;
    if (e != NULL)
      curl_easy_cleanup(e);
    path = def;
  }
  if (path == NULL)
    return 0;
  rc = bg_buf_read_file(pem, path, err);
  free(def);
  if (rc < 0)
    return -1;
  return bg_buf_add(pem, "\n", 1, err);
}

int bg_tls_load(struct bg_tls *t, const char *registry, const char *api_host,
                struct bg_error *err)
{
  char path[4096 + 300], key[4096 + 304], *names[CERTS_FILES_MAX];
  struct bg_buf pem;
  struct dirent *de;
  struct stat st;
  size_t n = 0, i, ncas = 0;
  DIR *d = NULL;
  int rc = -1;

  memset(t, 0, sizeof(*t));
  bg_buf_init(&pem, PEM_MAX);
  if (!find_dir(registry, t->dir, sizeof(t->dir)) &&
      !find_dir(api_host, t->dir, sizeof(t->dir))) {
    t->dir[0] = '\0';
    return 0;
  }
  d = opendir(t->dir);
  if (d == NULL)
    return bg_error_errno(err, errno, "cannot read %s", t->dir);
  while ((de = readdir(d)) != NULL && n < CERTS_FILES_MAX) {
    if (de->d_name[0] == '.')
      continue;
    names[n] = strdup(de->d_name);
    if (names[n] == NULL) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
    n++;
  }
  /* sorted, so the bundle and the chosen client certificate do not depend on readdir */
  qsort(names, n, sizeof(names[0]), cmp_name);
  for (i = 0; i < n; i++) {
    snprintf(path, sizeof(path), "%s/%s", t->dir, names[i]);
    if (ends_with(names[i], ".crt")) {
      if (ncas == 0 && read_base(&pem, err) != 0)
        goto out;
      if (bg_buf_read_file(&pem, path, err) != 0 || bg_buf_add(&pem, "\n", 1, err) != 0) {
        bg_error_prefix(err, "reading the CA %s", path);
        goto out;
      }
      ncas++;
    } else if (ends_with(names[i], ".cert") && t->cert[0] == '\0') {
      snprintf(key, sizeof(key), "%.*s.key", (int)(strlen(path) - 5), path);
      if (stat(key, &st) != 0) {
        bg_error_set(err, BG_EINVAL, "%s has no matching %s", path, key);
        goto out;
      }
      memcpy(t->cert, path, strlen(path) + 1);
      memcpy(t->key, key, strlen(key) + 1);
    }
  }
  if (ncas > 0)
    t->ca = bg_buf_take(&pem, &t->ca_len);
  rc = 0;
out:
  for (i = 0; i < n; i++)
    free(names[i]);
  closedir(d);
  bg_buf_free(&pem);
  return rc;
}

void bg_tls_apply(const struct bg_tls *t, CURL *e, int scope, int verify)
{
  struct curl_blob blob;
  const char *file = env("SSL_CERT_FILE"), *dir = env("SSL_CERT_DIR");

  /* libcurl does not read these itself: it was built with its own bundle */
  if (file != NULL)
    curl_easy_setopt(e, CURLOPT_CAINFO, file);
  if (dir != NULL)
    curl_easy_setopt(e, CURLOPT_CAPATH, dir);
  /* the registry's CAs vouch for the hosts it sends requests on to (its storage), as they do
   * in Docker's transport */
  if (t->ca != NULL) {
    blob.data = t->ca;
    blob.len = t->ca_len;
    blob.flags = CURL_BLOB_NOCOPY;
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (scope != BG_TLS_REGISTRY)
    return;
  if (t->cert[0] != '\0') {
    curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert);
    curl_easy_setopt(e, CURLOPT_SSLKEY, t->key);
  }
  if (!verify) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

void bg_tls_free(struct bg_tls *t)
{
  free(t->ca);
  t->ca = NULL;
}
