/* Registry credentials from Docker's config.json and containers' auth.json, and from
 * docker-credential-<helper> programs. Secrets are never logged or put in messages. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/clock.h"
#include "../util/json.h"

#define CONFIG_MAX (1 << 20)
#define HELPER_REPLY_MAX (64 << 10)

long bg_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
  unsigned v = 0;
  int bits = 0;
  size_t i, len = 0;

  while (n > 0 && in[n - 1] == '=')
    n--;
  for (i = 0; i < n; i++) {
    char c = in[i];
    int d;
    if (c >= 'A' && c <= 'Z')
      d = c - 'A';
    else if (c >= 'a' && c <= 'z')
      d = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      d = c - '0' + 52;
    else if (c == '+')
      d = 62;
    else if (c == '/')
      d = 63;
    else
      return -1;
    v = (v << 6) | (unsigned)d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (len + 1 >= cap)
        return -1;
      out[len++] = (unsigned char)(v >> bits);
      v &= (1u << bits) - 1;
    }
  }
  out[len] = '\0';
  return (long)len;
}

long bg_base64_encode(const unsigned char *in, size_t n, char *out, size_t cap)
{
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i, o = 0;

  if (cap < 4 * ((n + 2) / 3) + 1)
    return -1;
  for (i = 0; i + 2 < n; i += 3) {
    out[o++] = a[in[i] >> 2];
    out[o++] = a[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
    out[o++] = a[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
    out[o++] = a[in[i + 2] & 63];
  }
  if (i < n) {
    out[o++] = a[in[i] >> 2];
    if (i + 1 < n) {
      out[o++] = a[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
      out[o++] = a[(in[i + 1] & 15) << 2];
    } else {
      out[o++] = a[(in[i] & 3) << 4];
      out[o++] = '=';
    }
    out[o++] = '=';
  }
  out[o] = '\0';
  return (long)o;
}

void bg_creds_wipe(struct bg_creds *c)
{
  volatile char *p = (volatile char *)c;
  size_t i;

  for (i = 0; i < sizeof(*c); i++)
    p[i] = 0;
}

/* Registries are keyed as "host", "https://host", "https://host/v1/" and the like. */
static int key_matches(const char *key, const char *registry)
{
  size_t n = strlen(registry);

  if (strncmp(key, "https://", 8) == 0)
    key += 8;
  else if (strncmp(key, "http://", 7) == 0)
    key += 7;
  if (strcmp(registry, "docker.io") == 0 &&
      (strncmp(key, "index.docker.io", 15) == 0 || strncmp(key, "registry-1.docker.io", 20) == 0))
    return key[key[0] == 'i' ? 15 : 20] == '\0' || key[key[0] == 'i' ? 15 : 20] == '/';
  return strncmp(key, registry, n) == 0 && (key[n] == '\0' || key[n] == '/');
}

static const json_t *find_host(const json_t *obj, const char *registry)
{
  const char *key;
  json_t *v;

  json_object_foreach((json_t *)obj, key, v) {
    if (key_matches(key, registry))
      return v;
  }
  return NULL;
}

static int set_creds(struct bg_creds *c, const char *user, const char *secret, const char *src,
                     struct bg_error *err)
{
  if (strlen(user) >= sizeof(c->user) || strlen(secret) >= sizeof(c->secret))
    return bg_error_set(err, BG_ETOOBIG, "credentials in %s are too long", src);
  memcpy(c->user, user, strlen(user) + 1);
  memcpy(c->secret, secret, strlen(secret) + 1);
  snprintf(c->source, sizeof(c->source), "%s", src);
  return 0;
}

static int valid_helper_name(const char *helper)
{
  size_t i;

  for (i = 0; helper[i] != '\0'; i++)
    if (!((helper[i] >= 'a' && helper[i] <= 'z') || (helper[i] >= 'A' && helper[i] <= 'Z') ||
          (helper[i] >= '0' && helper[i] <= '9') || helper[i] == '-' || helper[i] == '_' ||
          helper[i] == '.'))
      return 0;
  return i > 0 && i <= 64;
}

/* Reads the helper's stdout until it closes, while the helper runs: a reply over the cap or
 * past the deadline stops it (the whole process group, so a child holding the pipe goes too).
 * 0 at the end of the reply, -1 with err set. */
static int read_reply(int fd, pid_t pid, const char *prog, double timeout, struct bg_buf *reply,
                      struct bg_error *err)
{
  char block[4096];
  double deadline = bg_now() + timeout, left;
  struct pollfd pf = {fd, POLLIN, 0};
  ssize_t n;
  int r;

  for (;;) {
    left = deadline - bg_now();
    if (left <= 0) {
      kill(-pid, SIGKILL);
      return bg_error_set(err, BG_EIO, "%s did not answer within %g s", prog, timeout);
    }
    r = poll(&pf, 1, (int)(left * 1000) + 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return bg_error_errno(err, errno, "waiting for %s", prog);
    if (r == 0)
      continue;
    n = read(fd, block, sizeof(block));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0)
      return bg_error_errno(err, errno, "reading the reply of %s", prog);
    if (n == 0)
      return 0;
    if (reply->len + (size_t)n > reply->max) {
      kill(-pid, SIGKILL);
      return bg_error_set(err, BG_ETOOBIG, "the reply of %s is larger than %zu bytes", prog,
                          reply->max);
    }
    if (bg_buf_add(reply, block, (size_t)n, err) != 0)
      return -1;
  }
}

/* Runs docker-credential-<helper> get, writing the registry to its stdin. */
static int run_helper(const char *helper, const char *registry, double timeout,
                      struct bg_creds *c, struct bg_error *err)
{
  char prog[300];
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  json_t *doc = NULL;
  struct bg_buf reply;
  const char *user, *secret;
  pid_t pid = -1;
  ssize_t n;
  int status = 0, rc = -1;
  size_t i;

  if (!valid_helper_name(helper))
    return bg_error_set(err, BG_EINVAL, "invalid credential helper name '%.64s'", helper);
  bg_buf_init(&reply, HELPER_REPLY_MAX);
  snprintf(prog, sizeof(prog), "docker-credential-%s", helper);
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    bg_error_errno(err, errno, "cannot run %s", prog);
    goto out;
  }
  pid = fork();
  if (pid < 0) {
    bg_error_errno(err, errno, "cannot run %s", prog);
    goto out;
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(in[0], 0);
    dup2(out[1], 1);
    execlp(prog, prog, "get", (char *)NULL);
    _exit(127);
  }
  setpgid(pid, pid); /* both sides, so the group exists before either goes on */
  close(in[0]);
  in[0] = -1;
  close(out[1]);
  out[1] = -1;
  signal(SIGPIPE, SIG_IGN);
  /* a registry name is far below the pipe's capacity: this write never blocks */
  n = write(in[1], registry, strlen(registry));
  (void)n;
  close(in[1]);
  in[1] = -1;
  if (read_reply(out[0], pid, prog, timeout, &reply, err) != 0)
    goto out;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  pid = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    /* "credentials not found" is a normal answer: go on anonymously */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && reply.data != NULL &&
        strstr(reply.data, "credentials not found") != NULL) {
      rc = 0;
      goto out;
    }
    bg_error_set(err, BG_EIO, "%s get failed for %s (exit status %d)", prog, registry,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    goto out;
  }
  if (bg_json_parse(reply.data ? reply.data : "", reply.len, &doc, err) != 0) {
    bg_error_prefix(err, "reply of %s", prog);
    goto out;
  }
  user = bg_json_getstr(doc, "Username");
  secret = bg_json_getstr(doc, "Secret");
  if (user == NULL || secret == NULL) {
    bg_error_set(err, BG_EINVAL, "reply of %s lacks Username or Secret", prog);
    goto out;
  }
  rc = set_creds(c, user, secret, prog, err);
out:
  for (i = 0; i < 2; i++) {
    if (in[i] >= 0)
      close(in[i]);
    if (out[i] >= 0)
      close(out[i]);
  }
  if (pid > 0) {
    /* stopped above (cap or deadline) or failed half-way: nothing more is read from it */
    kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
  }
  if (reply.data != NULL)
    memset(reply.data, 0, reply.len);
  bg_buf_free(&reply);
  if (doc != NULL)
    json_decref(doc);
  return rc;
}

/* 0 with c filled (or left empty), 1 when the file does not exist, -1 on error. */
static int from_file(const char *path, const char *registry, int helpers, double timeout,
                     struct bg_creds *c, struct bg_error *err)
{
  json_t *root = NULL;
  const json_t *entry;
  const char *auth, *helper;
  unsigned char decoded[4700];
  struct bg_buf b;
  char *colon;
  long n;
  int rc;

  bg_buf_init(&b, CONFIG_MAX);
  rc = bg_buf_read_file(&b, path, err);
  if (rc != 0)
    goto out;
  rc = -1;
  if (bg_json_parse(b.data ? b.data : "", b.len, &root, err) != 0) {
    bg_error_prefix(err, "%s", path);
    goto out;
  }
  helper = helpers ? json_string_value(find_host(json_object_get(root, "credHelpers"), registry))
                   : NULL;
  if (helper != NULL) {
    rc = run_helper(helper, registry, timeout, c, err);
    goto out;
  }
  entry = find_host(json_object_get(root, "auths"), registry);
  auth = bg_json_getstr(entry, "auth");
  if (auth != NULL && auth[0] != '\0') {
    n = bg_base64_decode(auth, strlen(auth), decoded, sizeof(decoded));
    colon = n > 0 ? strchr((char *)decoded, ':') : NULL;
    if (colon == NULL) {
      bg_error_set(err, BG_EINVAL, "%s: the auth entry for %s is not base64 of user:password",
                   path, registry);
      goto out;
    }
    *colon = '\0';
    rc = set_creds(c, (char *)decoded, colon + 1, path, err);
    memset(decoded, 0, sizeof(decoded));
    goto out;
  }
  helper = helpers ? bg_json_getstr(root, "credsStore") : NULL;
  if (helper != NULL) {
    rc = run_helper(helper, registry, timeout, c, err);
    goto out;
  }
  rc = 0;
out:
  if (b.data != NULL)
    memset(b.data, 0, b.len);
  bg_buf_free(&b);
  if (root != NULL)
    json_decref(root);
  return rc;
}

int bg_creds_lookup(const char *registry, double helper_timeout, struct bg_creds *c,
                    struct bg_error *err)
{
  char path[PATH_MAX];
  const char *env;
  int rc;

  memset(c, 0, sizeof(*c));
  env = getenv("REGISTRY_AUTH_FILE");
  if (env != NULL && env[0] != '\0') {
    rc = from_file(env, registry, 0, helper_timeout, c, err);
    if (rc < 0 || c->user[0] != '\0')
      return rc < 0 ? -1 : 0;
  }
  env = getenv("DOCKER_CONFIG");
  if (env != NULL && env[0] != '\0') {
    snprintf(path, sizeof(path), "%s/config.json", env);
  } else {
    env = getenv("HOME");
    if (env == NULL || env[0] == '\0')
      return 0;
    snprintf(path, sizeof(path), "%s/.docker/config.json", env);
  }
  rc = from_file(path, registry, 1, helper_timeout, c, err);
  return rc < 0 ? -1 : 0;
}
