#include "harness.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/auth.h"
#include "oci/cache.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "util/escape.h"
#include "util/json.h"

static const char hexa[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static void ref_ok(const char *s, const char *registry, const char *repo, const char *tag,
                   const char *name)
{
  struct bg_oci_ref r;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_oci_ref_parse(s, &r, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "parsing %s: %s", s, err.msg);
  CHECK_STR(r.registry, registry);
  CHECK_STR(r.repository, repo);
  CHECK_STR(r.tag, tag);
  CHECK_STR(r.name, name);
}

static void ref_bad(const char *s, const char *msg)
{
  struct bg_oci_ref r;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_oci_ref_parse(s, &r, &err), -1);
  CHECK_INT(err.code, BG_EINVAL);
  CHECK_STR(err.msg, msg);
}

BG_TEST(ref_docker_hub_normalised)
{
  ref_ok("debian", "docker.io", "library/debian", "latest", "docker.io/library/debian:latest");
  ref_ok("debian:bookworm", "docker.io", "library/debian", "bookworm",
         "docker.io/library/debian:bookworm");
  ref_ok("docker.io/debian", "docker.io", "library/debian", "latest",
         "docker.io/library/debian:latest");
  ref_ok("index.docker.io/library/debian:12", "docker.io", "library/debian", "12",
         "docker.io/library/debian:12");
  ref_ok("user/app:v1.2-rc_3", "docker.io", "user/app", "v1.2-rc_3",
         "docker.io/user/app:v1.2-rc_3");
  ref_ok("docker://alpine", "docker.io", "library/alpine", "latest",
         "docker.io/library/alpine:latest");
}

BG_TEST(ref_registry_hosts)
{
  ref_ok("127.0.0.1:5000/x:1", "127.0.0.1:5000", "x", "1", "127.0.0.1:5000/x:1");
  ref_ok("localhost/a/b/c", "localhost", "a/b/c", "latest", "localhost/a/b/c:latest");
  ref_ok("localhost:5000/a", "localhost:5000", "a", "latest", "localhost:5000/a:latest");
  ref_ok("[::1]:5000/a__b--c.d", "[::1]:5000", "a__b--c.d", "latest",
         "[::1]:5000/a__b--c.d:latest");
  ref_ok("quay.io/org/img", "quay.io", "org/img", "latest", "quay.io/org/img:latest");
  ref_ok("Registry/img", "Registry", "img", "latest", "Registry/img:latest");
  ref_ok("ghcr.io/o/x:5000", "ghcr.io", "o/x", "5000", "ghcr.io/o/x:5000");
}

BG_TEST(ref_digests)
{
  struct bg_oci_ref r;
  struct bg_error err;
  char s[300];

  bg_error_clear(&err);
  snprintf(s, sizeof(s), "debian@sha256:%s", hexa);
  CHECK_INT(bg_oci_ref_parse(s, &r, &err), 0);
  CHECK_STR(r.tag, "");
  CHECK(strncmp(r.digest, "sha256:aaaa", 11) == 0);
  snprintf(s, sizeof(s), "docker.io/library/debian@sha256:%s", hexa);
  CHECK_STR(r.name, s);
  snprintf(s, sizeof(s), "127.0.0.1:5000/x:1@sha256:%s", hexa);
  CHECK_INT(bg_oci_ref_parse(s, &r, &err), 0);
  CHECK_STR(r.tag, "1");
  CHECK_STR(r.name, s);
  ref_bad("debian@sha256:abc",
          "invalid reference 'debian@sha256:abc': invalid digest 'sha256:abc': expected 64 hex "
          "digits");
  ref_bad("debian@md5:00", "invalid reference 'debian@md5:00': unsupported digest algorithm in "
                           "'md5:00'");
}

BG_TEST(ref_rejects_bad)
{
  char longname[400];

  ref_bad("", "invalid reference '': empty");
  ref_bad("Debian", "invalid reference 'Debian': repository must be lower-case letters, digits "
                    "and separators");
  ref_bad("debian:", "invalid reference 'debian:': invalid tag");
  ref_bad("debian:-x", "invalid reference 'debian:-x': invalid tag");
  ref_bad("a//b", "invalid reference 'a//b': repository must be lower-case letters, digits and "
                  "separators");
  ref_bad("host:port/x", "invalid reference 'host:port/x': invalid registry host");
  ref_bad("localhost:5000/", "invalid reference 'localhost:5000/': no repository");
  ref_bad("a/../b", "invalid reference 'a/../b': repository must be lower-case letters, digits "
                    "and separators");
  ref_bad("x_-y", "invalid reference 'x_-y': repository must be lower-case letters, digits and "
                  "separators");
  ref_bad("-x", "invalid reference '-x': repository must be lower-case letters, digits and "
                "separators");
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  longname[5] = '/';
  {
    struct bg_oci_ref r;
    struct bg_error err;
    bg_error_clear(&err);
    CHECK_INT(bg_oci_ref_parse(longname, &r, &err), -1);
    CHECK_CONTAINS(err.msg, "name longer than 255 characters");
  }
}

BG_TEST(ref_local_transports)
{
  struct bg_oci_ref r;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_oci_ref_parse("oci:/tmp/layout:v1", &r, &err), 0);
  CHECK_INT(r.transport, BG_REF_OCI_DIR);
  CHECK_STR(r.path, "/tmp/layout");
  CHECK_STR(r.tag, "v1");
  CHECK_STR(r.name, "oci:/tmp/layout:v1");
  CHECK_INT(bg_oci_ref_parse("oci:dir", &r, &err), 0);
  CHECK_STR(r.tag, "");
  CHECK_INT(bg_oci_ref_parse("oci:/l:docker.io/library/x:1", &r, &err), 0);
  CHECK_STR(r.path, "/l");
  CHECK_STR(r.tag, "docker.io/library/x:1");
  CHECK_INT(bg_oci_ref_parse("oci-archive:/a.tar", &r, &err), 0);
  CHECK_INT(r.transport, BG_REF_OCI_ARCHIVE);
  CHECK_INT(bg_oci_ref_parse("docker-archive:img.tar", &r, &err), 0);
  CHECK_INT(r.transport, BG_REF_DOCKER_ARCHIVE);
  CHECK_STR(r.name, "docker-archive:img.tar");
  ref_bad("oci:", "invalid reference 'oci:': no path given");
  ref_bad("oci:/x:", "invalid reference 'oci:/x:': empty tag");
}

BG_TEST(loopback_hosts)
{
  CHECK(bg_oci_host_is_loopback("localhost"));
  CHECK(bg_oci_host_is_loopback("localhost:5000"));
  CHECK(bg_oci_host_is_loopback("127.0.0.1:5000"));
  CHECK(bg_oci_host_is_loopback("127.1.2.3"));
  CHECK(bg_oci_host_is_loopback("[::1]:80"));
  CHECK(!bg_oci_host_is_loopback("127.0.0.1.evil.com"));
  CHECK(!bg_oci_host_is_loopback("127.example"));
  CHECK(!bg_oci_host_is_loopback("localhost.evil.com"));
  CHECK(!bg_oci_host_is_loopback("10.0.0.1"));
  CHECK(!bg_oci_host_is_loopback("[::1]x"));
}

struct seen {
  char text[2048];
};

static int record(void *ctx, const char *scheme, const char *name, const char *value)
{
  struct seen *s = ctx;
  size_t n = strlen(s->text);

  snprintf(s->text + n, sizeof(s->text) - n, "[%s|%s|%s]", scheme, name ? name : "-",
           value ? value : "-");
  return 0;
}

static void www(const char *header, const char *want)
{
  struct seen s = {""};
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_www_auth_each(header, record, &s, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "%s: %s", header, err.msg);
  CHECK_STR(s.text, want);
}

BG_TEST(www_authenticate_rfc7235)
{
  struct bg_challenge c;
  struct bg_error err;

  www("Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
      "scope=\"repository:a/b:pull,push\"",
      "[Bearer|-|-][Bearer|realm|https://auth.example/token][Bearer|service|registry.example]"
      "[Bearer|scope|repository:a/b:pull,push]");
  /* several challenges, bare tokens, escapes, odd spacing, empty list elements */
  www("Basic realm=\"a \\\"q\\\" b\", Bearer realm=x , error=invalid_token",
      "[Basic|-|-][Basic|realm|a \"q\" b][Bearer|-|-][Bearer|realm|x][Bearer|error|invalid_token]");
  www(", Negotiate abc123==, Bearer  realm = \"r\"",
      "[Negotiate|-|abc123==][Bearer|-|-][Bearer|realm|r]");
  www("Basic", "[Basic|-|-]");
  www("Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"",
      "[Newauth|-|-][Newauth|realm|apps][Newauth|type|1][Newauth|title|Login to \"apps\"]"
      "[Basic|-|-][Basic|realm|simple]");

  bg_error_clear(&err);
  CHECK_INT(bg_www_auth_parse("Basic realm=\"x\", Bearer realm=\"https://a/t\",service=s,"
                              "scope=\"repository:r:pull\"", &c, &err), 0);
  CHECK(c.basic && c.bearer);
  CHECK_STR(c.realm, "https://a/t");
  CHECK_STR(c.service, "s");
  CHECK_STR(c.scope, "repository:r:pull");
  CHECK_INT(bg_www_auth_parse("Bearer realm=\"unterminated", &c, &err), -1);
  CHECK_STR(err.msg, "malformed WWW-Authenticate at offset 26: unterminated quoted-string");
  bg_error_clear(&err);
  CHECK_INT(bg_www_auth_parse("Bearer realm=\"x\" junk", &c, &err), -1);
  CHECK_STR(err.msg, "malformed WWW-Authenticate at offset 17: expected ',' after an auth-param");
  bg_error_clear(&err);
  CHECK_INT(bg_www_auth_parse("=x", &c, &err), -1);
  CHECK_STR(err.msg, "malformed WWW-Authenticate at offset 0: expected an auth scheme");
}

BG_TEST(www_authenticate_caps)
{
  struct bg_challenge c;
  struct bg_error err;
  char *big = malloc(BG_AUTH_HEADER_MAX + 100);

  memcpy(big, "Bearer realm=\"", 14);
  memset(big + 14, 'a', BG_AUTH_HEADER_MAX);
  strcpy(big + 14 + BG_AUTH_HEADER_MAX, "\"");
  bg_error_clear(&err);
  CHECK_INT(bg_www_auth_parse(big, &c, &err), -1);
  CHECK_STR(err.msg, "WWW-Authenticate longer than 8192 bytes");
  /* a realm over its field's size is refused, not truncated */
  memset(big + 14, 'a', 3000);
  strcpy(big + 14 + 3000, "\"");
  bg_error_clear(&err);
  CHECK_INT(bg_www_auth_parse(big, &c, &err), -1);
  CHECK_STR(err.msg, "WWW-Authenticate realm longer than 2047 bytes");
  free(big);
}

BG_TEST(base64_roundtrip)
{
  unsigned char out[64];
  char enc[64];

  CHECK_INT(bg_base64_decode("dXNlcjpwYXNz", 12, out, sizeof(out)), 9);
  CHECK_STR((char *)out, "user:pass");
  CHECK_INT(bg_base64_encode((const unsigned char *)"user:pass", 9, enc, sizeof(enc)), 12);
  CHECK_STR(enc, "dXNlcjpwYXNz");
  CHECK_INT(bg_base64_encode((const unsigned char *)"ab", 2, enc, sizeof(enc)), 4);
  CHECK_STR(enc, "YWI=");
  CHECK_INT(bg_base64_decode("YWI=", 4, out, sizeof(out)), 2);
  CHECK_INT(bg_base64_decode("a*b", 3, out, sizeof(out)), -1);
}

static void json_bad(const char *s, int code, const char *msg)
{
  json_t *doc = NULL;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_json_parse(s, strlen(s), &doc, &err), -1);
  CHECK_INT(err.code, code);
  CHECK_CONTAINS(err.msg, msg);
  CHECK(doc == NULL);
}

BG_TEST(json_parse_and_write)
{
  static const char text[] =
    " {\"a\": [1, -2.5e3, true, false, null], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\","
    " \"o\": {}, \"big\": 9007199254740993, \"neg\": -1} ";
  json_t *doc;
  struct bg_error err;
  struct bg_buf b;
  uint64_t u;

  bg_error_clear(&err);
  CHECK_INT(bg_json_parse(text, strlen(text), &doc, &err), 0);
  CHECK_STR(bg_json_getstr(doc, "s"), "x\xc3\xa9\xf0\x9f\x98\x80\n\"");
  CHECK(bg_json_getstr(doc, "a") == NULL);
  CHECK(bg_json_getstr(NULL, "a") == NULL);
  CHECK_INT(bg_json_uint(json_object_get(doc, "big"), &u), 0);
  CHECK(u == 9007199254740993ULL);
  CHECK_INT(bg_json_uint(json_object_get(doc, "neg"), &u), -1);
  CHECK_INT(bg_json_uint(json_array_get(json_object_get(doc, "a"), 1), &u), -1);
  bg_buf_init(&b, 4096);
  CHECK_INT(bg_json_dump(&b, doc, &err), 0);
  /* compact, members in their order, UTF-8 as it is: what index.json and manifests need */
  CHECK_STR(b.data, "{\"a\":[1,-2500.0,true,false,null],\"s\":\"x\xc3\xa9\xf0\x9f\x98\x80\\n"
                    "\\\"\",\"o\":{},\"big\":9007199254740993,\"neg\":-1}");
  bg_buf_free(&b);
  json_decref(doc);
  /* a dump that does not fit its buffer's cap fails */
  bg_buf_init(&b, 8);
  CHECK_INT(bg_json_parse(text, strlen(text), &doc, &err), 0);
  CHECK_INT(bg_json_dump(&b, doc, &err), -1);
  CHECK_INT(err.code, BG_ETOOBIG);
  bg_buf_free(&b);
  json_decref(doc);
}

BG_TEST(json_rejects)
{
  char *deep, *wide;
  size_t i;

  json_bad("", BG_EINVAL, "invalid JSON at byte 0: ");
  json_bad("{\"a\":1,}", BG_EINVAL, "invalid JSON at byte ");
  json_bad("[1 2]", BG_EINVAL, "invalid JSON at byte ");
  json_bad("\"a\\u0000\"", BG_EINVAL, "invalid JSON at byte ");
  json_bad("[\"\xff\"]", BG_EINVAL, "invalid JSON at byte ");
  json_bad("{} x", BG_EINVAL, "invalid JSON at byte ");
  /* two parsers must never read one document two ways */
  json_bad("{\"digest\":\"a\",\"digest\":\"b\"}", BG_EINVAL, "duplicate object key");
  /* what jansson quotes back from the document is escaped */
  json_bad("[\x1b[2J]", BG_EINVAL, "\\x1b");
  /* the caps hold before jansson allocates anything */
  deep = malloc(201);
  memset(deep, '[', 200);
  deep[200] = '\0';
  json_bad(deep, BG_ETOOBIG, "invalid JSON at byte 64: nested more than 64 deep");
  free(deep);
  wide = malloc(2 * BG_JSON_MAX_VALUES + 8);
  wide[0] = '[';
  for (i = 0; i < BG_JSON_MAX_VALUES; i++)
    memcpy(wide + 1 + 2 * i, "0,", 2);
  memcpy(wide + 1 + 2 * i, "0]", 3);
  json_bad(wide, BG_ETOOBIG, "more than 200000 values");
  free(wide);
  /* brackets inside strings are text, not structure */
  {
    json_t *doc = NULL;
    struct bg_error err;
    char *s = malloc(300);
    bg_error_clear(&err);
    snprintf(s, 300, "[\"%0200d\"]", 0);
    memset(s + 2, '[', 200);
    CHECK_INT(bg_json_parse(s, strlen(s), &doc, &err), 0);
    json_decref(doc);
    free(s);
  }
}

#define DESC(mt, hex, size) "{\"mediaType\":\"" mt "\",\"digest\":\"sha256:" hex "\",\"size\":" #size
#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"
#define H3 "3333333333333333333333333333333333333333333333333333333333333333"

static const char image_manifest[] =
  "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"config\":"
  DESC("application/vnd.docker.container.image.v1+json", H1, 100) "},\"layers\":["
  DESC("application/vnd.docker.image.rootfs.diff.tar.gzip", H2, 200) "},"
  DESC("application/vnd.docker.image.rootfs.diff.tar.gzip", H3, 300) "}]}";

BG_TEST(manifest_image)
{
  struct bg_manifest m;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_manifest_parse(image_manifest, strlen(image_manifest), MT_DOCKER_MANIFEST, &m,
                              &err), 0);
  CHECK_INT(m.kind, BG_MANIFEST_IMAGE);
  CHECK_INT(m.n, 2);
  CHECK_STR(m.config.digest.hex, H1);
  CHECK_STR(m.items[1].digest.hex, H3);
  CHECK_INT(m.items[1].size, 300);
  bg_manifest_free(&m);
  /* no Content-Type (local layouts) and a generic one are fine */
  CHECK_INT(bg_manifest_parse(image_manifest, strlen(image_manifest), "application/json", &m,
                              &err), 0);
  bg_manifest_free(&m);
}

static void manifest_bad(const char *body, const char *ct, const char *msg)
{
  struct bg_manifest m;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_manifest_parse(body, strlen(body), ct, &m, &err), -1);
  CHECK_STR(err.msg, msg);
}

BG_TEST(manifest_rejects)
{
  manifest_bad(image_manifest, MT_OCI_MANIFEST,
               "manifest mediaType application/vnd.docker.distribution.manifest.v2+json "
               "disagrees with Content-Type application/vnd.oci.image.manifest.v1+json");
  manifest_bad("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}", "application/json",
               "Docker schema 1 manifests are not supported; push the image again with a "
               "current client");
  manifest_bad("{}", "application/vnd.docker.distribution.manifest.v1+prettyjws",
               "Docker schema 1 manifests (application/vnd.docker.distribution.manifest.v1+"
               "prettyjws) are not supported; push the image again with a current client");
  manifest_bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":"
               DESC("x", H1, 1) "},\"layers\":[{\"mediaType\":\"x\",\"digest\":\"sha256:../../"
               "etc\",\"size\":1}]}", NULL,
               "layer 0: invalid digest 'sha256:../../etc': expected 64 hex digits");
  manifest_bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":"
               DESC("x", H1, -1) "},\"layers\":[]}", NULL, "config 0 has no valid size");
  manifest_bad("{\"schemaVersion\":2,\"mediaType\":\"text/html\"}", NULL,
               "unsupported manifest media type text/html");
  manifest_bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":"
               DESC("x", H1, 1) "}}", NULL, "manifest has no layers array");
  manifest_bad(image_manifest, "text/html", "manifest served with Content-Type text/html");
}

static const char index_json[] =
  "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
  DESC(MT_OCI_MANIFEST, H1, 10) ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\","
  "\"variant\":\"v6\"}},"
  DESC(MT_OCI_MANIFEST, H2, 10) ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
  DESC(MT_OCI_MANIFEST, H3, 10) ",\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"},"
  "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}},"
  DESC(MT_OCI_MANIFEST, H3, 10) ",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}"
  "]}";

static void select_ok(const char *plat, size_t want)
{
  struct bg_manifest m;
  struct bg_platform p;
  struct bg_error err;
  size_t i = 99;

  bg_error_clear(&err);
  CHECK_INT(bg_manifest_parse(index_json, strlen(index_json), MT_OCI_INDEX, &m, &err), 0);
  CHECK_INT(bg_platform_parse(plat, &p, &err), 0);
  if (bg_manifest_select(&m, &p, &i, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "%s: %s", plat, err.msg);
  CHECK_INT(i, want);
  bg_manifest_free(&m);
}

BG_TEST(manifest_platform_selection)
{
  struct bg_manifest m;
  struct bg_platform p;
  struct bg_error err;
  size_t i;

  select_ok("linux/amd64", 3);
  select_ok("linux/x86_64", 3);
  select_ok("linux/arm64", 1);
  select_ok("linux/arm64/v8", 1);
  select_ok("linux/aarch64", 1);
  select_ok("linux/arm/v6", 0);
  bg_error_clear(&err);
  CHECK_INT(bg_manifest_parse(index_json, strlen(index_json), MT_DOCKER_LIST, &m, &err), -1);
  bg_error_clear(&err);
  CHECK_INT(bg_manifest_parse(index_json, strlen(index_json), MT_OCI_INDEX, &m, &err), 0);
  CHECK_INT(m.kind, BG_MANIFEST_INDEX);
  CHECK_INT(bg_platform_parse("linux/arm/v7", &p, &err), 0);
  CHECK_INT(bg_manifest_select(&m, &p, &i, &err), -1);
  CHECK_STR(err.msg, "no image for platform linux/arm/v7 (the index has: linux/arm/v6, "
                     "linux/arm64, linux/amd64)");
  bg_manifest_free(&m);
  bg_error_clear(&err);
  CHECK_INT(bg_platform_parse("linux", &p, &err), -1);
  CHECK_STR(err.msg, "invalid platform 'linux': expected os/arch[/variant]");
  bg_error_clear(&err);
  CHECK_INT(bg_platform_parse("linux/arm/v7/x", &p, &err), -1);
}

/* Found by fuzzing: an empty architecture between two slashes was accepted. */
BG_TEST(platform_with_empty_architecture)
{
  struct bg_platform p;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_platform_parse("linux//v8", &p, &err), -1);
  CHECK_STR(err.msg, "invalid platform 'linux//v8': expected os/arch[/variant]");
  bg_error_clear(&err);
  CHECK_INT(bg_platform_parse("linux/", &p, &err), -1);
  bg_error_clear(&err);
  CHECK_INT(bg_platform_parse("linux/a/v8", &p, &err), 0);
  CHECK_STR(p.arch, "a");
  CHECK_STR(p.variant, "v8");
}

BG_TEST(config_diff_ids)
{
  static const char cfg[] = "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\","
                            "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:" H1 "\","
                            "\"sha256:" H2 "\"]}}";
  char ids[2][BG_DIGEST_STRLEN];
  struct bg_platform p;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_config_parse(cfg, strlen(cfg), 2, ids, &p, NULL, &err), 0);
  CHECK_STR(ids[1], "sha256:" H2);
  CHECK_STR(p.arch, "arm64");
  CHECK_STR(p.variant, "v8");
  CHECK_INT(bg_config_parse(cfg, strlen(cfg), 3, ids, &p, NULL, &err), -1);
  CHECK_STR(err.msg, "image config lists 2 diff_ids for 3 layers");
  bg_error_clear(&err);
  CHECK_INT(bg_config_parse(cfg, strlen(cfg), 1, ids, &p, NULL, &err), -1);
  CHECK_STR(err.msg, "image config lists 2 diff_ids for 1 layers");
}

BG_TEST(cache_writer_checks_size_and_digest)
{
  struct bg_cache c;
  struct bg_blob_writer w;
  struct bg_digest d;
  struct bg_error err;
  char path[PATH_MAX], ds[BG_DIGEST_STRLEN];
  unsigned char raw[BG_SHA256_LEN];
  struct stat st;

  bg_error_clear(&err);
  CHECK_INT(bg_cache_open("cache", &c, &err), 0);
  CHECK_INT(stat("cache/oci-layout", &st), 0);
  CHECK_INT(stat("cache/index.json", &st), 0);
  CHECK_INT(bg_sha256_buf("hello", 5, raw, &err), 0);
  bg_digest_format(raw, ds);
  CHECK_INT(bg_digest_parse(ds, &d, &err), 0);
  /* too many bytes */
  CHECK_INT(bg_blob_writer_open(&c, &d, 4, &w, &err), 0);
  CHECK_INT(bg_blob_writer_write(&w, "hello", 5, &err), -1);
  CHECK_STR(err.msg, "blob is larger than the 4 bytes its descriptor gives");
  bg_blob_writer_abort(&w);
  /* wrong bytes */
  bg_error_clear(&err);
  CHECK_INT(bg_blob_writer_open(&c, &d, 5, &w, &err), 0);
  CHECK_INT(bg_blob_writer_write(&w, "jello", 5, &err), 0);
  CHECK_INT(bg_blob_writer_commit(&c, &w, &err), -1);
  CHECK_CONTAINS(err.msg, "digest mismatch: expected sha256:2cf24dba");
  bg_cache_blob_path(&c, d.hex, path, sizeof(path));
  CHECK(stat(path, &st) != 0);
  /* restart, then the right bytes */
  bg_error_clear(&err);
  CHECK_INT(bg_blob_writer_open(&c, &d, 5, &w, &err), 0);
  CHECK_INT(bg_blob_writer_write(&w, "xx", 2, &err), 0);
  CHECK_INT(bg_blob_writer_restart(&w, &err), 0);
  CHECK_INT(bg_blob_writer_write(&w, "hello", 5, &err), 0);
  CHECK_INT(bg_blob_writer_commit(&c, &w, &err), 0);
  CHECK_INT(stat(path, &st), 0);
  CHECK_INT(st.st_size, 5);
  CHECK_INT(bg_cache_check(&c, &d, 5, &err), 0);
  /* a planted corrupt blob is found and removed */
  {
    int fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(write(fd, "HELLO", 5) == 5);
    close(fd);
  }
  CHECK_INT(bg_cache_check(&c, &d, 5, &err), 2);
  CHECK(stat(path, &st) != 0);
  CHECK_INT(bg_cache_check(&c, &d, 5, &err), 1);
}

/* The documented defaults, and the scale the tests use. */
BG_TEST(registry_time_limits)
{
  struct bg_limits l;

  bg_reg_limits(1.0, &l);
  CHECK_INT(l.connect_ms, 15000);
  CHECK_INT(l.stall_bytes, 1024);
  CHECK_INT(l.stall_s, 20);
  CHECK_INT(l.doc_ms, 30000);
  CHECK_INT(l.blob_ms, 30000);
  CHECK_INT(l.blob_rate, 16384);
  CHECK(l.helper_s == 30);
  /* 5 attempts of a stalled transfer and the backoff between them: about 2 minutes */
  CHECK(5 * l.stall_s + 0.5 + 1 + 2 + 4 < 125);
  bg_reg_limits(0.05, &l);
  CHECK_INT(l.stall_s, 1);
  CHECK_INT(l.doc_ms, 1500);
  CHECK_INT(l.stall_bytes, 1024); /* a rate: not scaled */
  bg_reg_limits(0.001, &l);
  CHECK_INT(l.stall_s, 1); /* curl counts whole seconds */
  bg_reg_limits(0, &l);
  CHECK_INT(l.stall_s, 20);
}

BG_TEST(escape_untrusted_strings)
{
  char out[64];

  CHECK_STR(bg_escape_str("plain: text/html; x=1", out, sizeof(out)), "plain: text/html; x=1");
  CHECK_STR(bg_escape_str("\x1b[2J\x07\x7f\\", out, sizeof(out)), "\\x1b[2J\\x07\\x7f\\\\");
  /* UTF-8 stays; C1 controls and bidirectional overrides do not */
  CHECK_STR(bg_escape_str("caf\xc3\xa9 \xc2\x9b" "1m \xe2\x80\xae" "x", out, sizeof(out)),
            "caf\xc3\xa9 \\u{009B}1m \\u{202E}x");
  /* bytes that are not UTF-8: overlong, surrogate, truncated */
  CHECK_STR(bg_escape_str("\xc0\xaf\xed\xa0\x80\xe2\x82", out, sizeof(out)),
            "\\xc0\\xaf\\xed\\xa0\\x80\\xe2\\x82");
  CHECK_STR(bg_escape("a\0b", 3, out, sizeof(out)), "a\\x00b");
  /* cut at a whole character, marked */
  CHECK_STR(bg_escape_str("abcdefghij", out, 8), "abcd...");
  CHECK_STR(bg_escape_str("\x1b\x1b\x1b", out, 9), "\\x1b...");
  CHECK_STR(bg_escape_str("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", out, 8), "\xc3\xa9\xc3\xa9...");
  CHECK_STR(bg_escape_str("abc", out, 4), "abc");
  CHECK_STR(bg_escape_str(NULL, out, 4), "");
}
