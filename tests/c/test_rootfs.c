/* Rootfs artifacts: the manifest as specified and every way one read back can be wrong; an image
 * stored and restored byte for byte with its holes; a restore that meets a corrupt layer, a
 * lying annotation, a zstd bomb or a cut stream writes nothing. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "oci/cache.h"
#include "oci/rootfs.h"
#include "util/json.h"

#define MiB (1024 * 1024)
#define KEY "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define RECIPE "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define SUBJECT "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const struct bg_rootfs_meta META = {
  KEY, RECIPE, "2023-11-14T22:13:20Z", "application/vnd.oci.image.manifest.v1+json", SUBJECT,
  423, "linux/amd64", NULL,
};

/* An 8 MiB image: a hole, some data, a zero block written for real, more hole, a block of zeros
 * but for its last byte, data at the end. */
static void make_image(const char *path)
{
  char block[4096];
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

  CHECK(fd >= 0);
  CHECK(ftruncate(fd, 8 * MiB) == 0);
  memset(block, 'a', sizeof(block));
  CHECK(pwrite(fd, block, sizeof(block), 1 * MiB) == (ssize_t)sizeof(block));
  memset(block, 0, sizeof(block));
  CHECK(pwrite(fd, block, sizeof(block), 1 * MiB + 4096) == (ssize_t)sizeof(block));
  block[sizeof(block) - 1] = 1;
  CHECK(pwrite(fd, block, sizeof(block), 4 * MiB) == (ssize_t)sizeof(block));
  memset(block, 'z', sizeof(block));
  CHECK(pwrite(fd, block, sizeof(block), 8 * MiB - 4096) == (ssize_t)sizeof(block));
  close(fd);
}

static int same_file(const char *a, const char *b)
{
  char pa[65536], pb[65536];
  ssize_t na, nb;
  int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY), same = fa >= 0 && fb >= 0;

  while (same) {
    na = read(fa, pa, sizeof(pa));
    nb = read(fb, pb, sizeof(pb));
    if (na != nb || (na > 0 && memcmp(pa, pb, (size_t)na) != 0))
      same = 0;
    if (na <= 0)
      break;
  }
  close(fa);
  close(fb);
  return same;
}

/* No temp file (".NAME.tmp-...") is left in dir. */
static int no_temp_files(const char *dir)
{
  struct dirent *de;
  DIR *d = opendir(dir);
  int clean = 1;

  CHECK(d != NULL);
  while ((de = readdir(d)) != NULL)
    if (strstr(de->d_name, ".tmp-") != NULL)
      clean = 0;
  closedir(d);
  return clean;
}

static void open_cache(struct bg_cache *c)
{
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_cache_open("cache", c, &err), 0);
}

static void store(struct bg_cache *c, struct bg_rootfs *a)
{
  struct bg_error err;

  open_cache(c);
  make_image("image");
  bg_error_clear(&err);
  if (bg_rootfs_store(c, "image", &META, a, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "store: %s", err.msg);
}

BG_TEST(store_and_restore_round_trip)
{
  struct bg_cache c;
  struct bg_rootfs a, found;
  struct bg_error err;
  struct stat st, orig;
  int fd;

  store(&c, &a);
  CHECK_STR(a.key, KEY);
  CHECK_STR(a.recipe, RECIPE);
  CHECK_STR(a.created, "2023-11-14T22:13:20Z");
  CHECK_INT(a.image_size, 8 * MiB);
  CHECK_STR(a.layer.media_type, MT_ROOTFS_LAYER);
  CHECK_STR(a.subject.media_type, "application/vnd.oci.image.manifest.v1+json");
  CHECK_INT(a.subject.size, 423);
  bg_error_clear(&err);
  CHECK_INT(bg_rootfs_find(&c, KEY, &found, &err), 0);
  CHECK_STR(found.digest, a.digest);
  CHECK_INT(bg_rootfs_find(&c, SUBJECT, &found, &err), 1);
  CHECK_INT(bg_rootfs_restore(&c, &a, "out.ext4", &err), 0);
  CHECK(same_file("image", "out.ext4"));
  CHECK(stat("out.ext4", &st) == 0 && stat("image", &orig) == 0);
  CHECK_INT(st.st_size, 8 * MiB);
  /* three blocks of data: the zero block written for real is a hole now */
  CHECK(st.st_blocks * 512 <= 3 * 4096 + 4096);
  CHECK(st.st_blocks <= orig.st_blocks);
  fd = open("out.ext4", O_RDONLY);
  CHECK_INT(lseek(fd, 0, SEEK_HOLE), 0);
  CHECK_INT(lseek(fd, 0, SEEK_DATA), 1 * MiB);
  close(fd);
  CHECK(no_temp_files("."));
}

BG_TEST(key_tag)
{
  struct bg_error err;
  char tag[BG_KEY_TAG_MAX];

  bg_error_clear(&err);
  CHECK_INT(bg_rootfs_key_tag(KEY, tag, sizeof(tag), &err), 0);
  CHECK_STR(tag, "banger-1111111111111111111111111111111111111111111111111111111111111111");
  CHECK_INT(bg_rootfs_key_tag("sha256:XYZ", tag, sizeof(tag), &err), -1);
  CHECK_CONTAINS(err.msg, "build key");
}

/* The manifest of a with one member's value replaced (a JSON pointer-ish path of two keys). */
static void manifest_with(const struct bg_rootfs *a, const char *k1, const char *k2,
                          json_t *v, struct bg_buf *out)
{
  struct bg_cache c;
  struct bg_digest d;
  struct bg_error err;
  struct bg_buf b;
  json_t *doc, *at;

  open_cache(&c);
  bg_buf_init(&b, 1 << 20);
  bg_error_clear(&err);
  CHECK_INT(bg_digest_parse(a->digest, &d, &err), 0);
  CHECK_INT(bg_cache_read(&c, &d, 1 << 20, &b, &err), 0);
  CHECK_INT(bg_json_parse(b.data, b.len, &doc, &err), 0);
  at = k2 ? json_object_get(doc, k1) : doc;
  CHECK(at != NULL);
  if (v == NULL)
    json_object_del(at, k2 ? k2 : k1);
  else
    json_object_set_new(at, k2 ? k2 : k1, v);
  bg_buf_reset(out);
  CHECK_INT(bg_json_dump(out, doc, &err), 0);
  json_decref(doc);
  bg_buf_free(&b);
}

static void refused(const struct bg_rootfs *a, const char *k1, const char *k2, json_t *v,
                    const char *why)
{
  struct bg_rootfs r;
  struct bg_error err;
  struct bg_buf b;

  bg_buf_init(&b, 1 << 20);
  manifest_with(a, k1, k2, v, &b);
  bg_error_clear(&err);
  CHECK_INT(bg_rootfs_parse(b.data, b.len, &r, &err), -1);
  CHECK_CONTAINS(err.msg, why);
  bg_buf_free(&b);
}

BG_TEST(parse_refuses_what_is_not_as_specified)
{
  struct bg_cache c;
  struct bg_rootfs a;

  store(&c, &a);
  refused(&a, "artifactType", NULL, json_string("application/x"), "not a rootfs artifact");
  refused(&a, "artifactType", NULL, NULL, "artifactType missing");
  refused(&a, "mediaType", NULL, json_string(MT_OCI_INDEX), "not an OCI image manifest");
  refused(&a, "config", "mediaType", json_string("application/json"), "empty descriptor");
  refused(&a, "config", "size", json_integer(3), "empty descriptor");
  refused(&a, "layers", NULL, json_array(), "exactly one layer");
  refused(&a, "annotations", BG_ANNOT_KEY, NULL, "dev.banger.key is missing");
  refused(&a, "annotations", BG_ANNOT_KEY, json_string("sha256:abc"), "dev.banger.key");
  refused(&a, "annotations", BG_ANNOT_IMAGE_SHA, json_string("md5:1"), "rootfs.sha256");
  refused(&a, "annotations", BG_ANNOT_IMAGE_SIZE, json_string("4097"), "whole 4 KiB blocks");
  refused(&a, "annotations", BG_ANNOT_IMAGE_SIZE, json_string("-4096"), "whole 4 KiB blocks");
  refused(&a, "annotations", BG_ANNOT_IMAGE_SIZE, json_string("0"), "whole 4 KiB blocks");
  refused(&a, "annotations", BG_ANNOT_IMAGE_SIZE, json_string("70368744177664000"),
          "up to 64 TiB");
  refused(&a, "annotations", BG_ANNOT_IMAGE_SIZE, json_integer(4096), "whole 4 KiB blocks");
  refused(&a, "subject", "digest", json_string("sha256:zz"), "subject");
}

/* A manifest of the cache as a, with its layer and annotations replaced: the layer bytes
 * (stored as a blob) and the image's claimed sha256 and size. */
static void forge(struct bg_cache *c, struct bg_rootfs *a, const void *layer, size_t n,
                  const char *image_sha, const char *image_size)
{
  struct bg_digest d;
  struct bg_error err;
  struct bg_buf b;
  char ds[BG_DIGEST_STRLEN];
  json_t *doc, *l;

  bg_error_clear(&err);
  CHECK_INT(bg_sha256_buf(layer, n, d.raw, &err), 0);
  bg_hex(d.raw, BG_SHA256_LEN, d.hex);
  CHECK_INT(bg_cache_put(c, &d, layer, n, &err), 0);
  bg_digest_format(d.raw, ds);
  bg_buf_init(&b, 1 << 20);
  manifest_with(a, "annotations", BG_ANNOT_IMAGE_SHA, json_string(image_sha), &b);
  CHECK_INT(bg_json_parse(b.data, b.len, &doc, &err), 0);
  l = json_array_get(json_object_get(doc, "layers"), 0);
  json_object_set_new(l, "digest", json_string(ds));
  json_object_set_new(l, "size", json_integer((json_int_t)n));
  json_object_set_new(json_object_get(doc, "annotations"), BG_ANNOT_IMAGE_SIZE,
                      json_string(image_size));
  bg_buf_reset(&b);
  CHECK_INT(bg_json_dump(&b, doc, &err), 0);
  json_decref(doc);
  CHECK_INT(bg_rootfs_parse(b.data, b.len, a, &err), 0);
  CHECK_INT(bg_sha256_buf(b.data, b.len, d.raw, &err), 0);
  bg_hex(d.raw, BG_SHA256_LEN, d.hex);
  CHECK_INT(bg_cache_put(c, &d, b.data, b.len, &err), 0);
  bg_digest_format(d.raw, a->digest);
  bg_buf_free(&b);
}

static void restore_fails(struct bg_cache *c, const struct bg_rootfs *a, const char *why)
{
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_rootfs_restore(c, a, "out.ext4", &err), -1);
  CHECK_CONTAINS(err.msg, why);
  CHECK_CONTAINS(err.msg, "restoring out.ext4");
  /* the output is what it was before: the old file stays, nothing half-written appears */
  CHECK(same_file("out.ext4", "old.ext4"));
  CHECK(no_temp_files("."));
}

static void old_output(void)
{
  int fd = open("old.ext4", O_WRONLY | O_CREAT | O_TRUNC, 0644);

  CHECK(fd >= 0 && write(fd, "old", 3) == 3);
  close(fd);
  fd = open("out.ext4", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0 && write(fd, "old", 3) == 3);
  close(fd);
}

BG_TEST(restore_of_a_corrupt_layer_writes_nothing_and_drops_the_blob)
{
  struct bg_cache c;
  struct bg_rootfs a;
  char path[PATH_MAX];
  unsigned char byte;
  int fd;

  store(&c, &a);
  old_output();
  bg_cache_blob_path(&c, a.layer.digest.hex, path, sizeof(path));
  fd = open(path, O_RDWR);
  CHECK(fd >= 0);
  CHECK(pread(fd, &byte, 1, 100) == 1);
  byte ^= 0x40;
  CHECK(pwrite(fd, &byte, 1, 100) == 1);
  close(fd);
  restore_fails(&c, &a, "");
  CHECK(access(path, F_OK) != 0); /* a layer whose digest is wrong is removed */
}

BG_TEST(restore_checks_the_images_sha256_and_size)
{
  struct bg_cache c;
  struct bg_rootfs a;
  char *img = calloc(1, 2 * MiB), *z = malloc(ZSTD_compressBound(2 * MiB));
  size_t n;

  store(&c, &a);
  old_output();
  memset(img + 4096, 'q', 4096);
  n = ZSTD_compress(z, ZSTD_compressBound(2 * MiB), img, 2 * MiB, 3);
  CHECK(!ZSTD_isError(n));
  /* a lying sha256 */
  forge(&c, &a, z, n, SUBJECT, "2097152");
  restore_fails(&c, &a, "the manifest gives 2097152 bytes with sha256:3333");
  /* the right bytes, but fewer than claimed */
  forge(&c, &a, z, n, SUBJECT, "4194304");
  restore_fails(&c, &a, "the image made is 2097152 bytes");
  /* a bomb: more than claimed, stopped as soon as it shows */
  forge(&c, &a, z, n, SUBJECT, "1048576");
  restore_fails(&c, &a, "holds more than the 1048576 bytes");
  /* a stream cut short */
  forge(&c, &a, z, n / 2, SUBJECT, "2097152");
  restore_fails(&c, &a, "truncated");
  /* not zstd at all */
  forge(&c, &a, "not zstd, certainly not", 23, SUBJECT, "2097152");
  restore_fails(&c, &a, "not a valid zstd stream");
  free(img);
  free(z);
}

BG_TEST(restore_refuses_a_layer_that_is_no_regular_file)
{
  struct bg_cache c;
  struct bg_rootfs a;
  struct bg_error err;
  char path[PATH_MAX];

  store(&c, &a);
  old_output();
  bg_cache_blob_path(&c, a.layer.digest.hex, path, sizeof(path));
  CHECK(unlink(path) == 0);
  CHECK(symlink("/etc/passwd", path) == 0);
  restore_fails(&c, &a, "cannot open");
  CHECK(unlink(path) == 0);
  restore_fails(&c, &a, "is not in the cache");
  bg_error_clear(&err);
  CHECK_INT(bg_rootfs_restore(&c, &a, "no/such/dir/out.ext4", &err), -1);
}

BG_TEST(store_takes_a_known_image_sha256_as_given)
{
  struct bg_cache c;
  struct bg_rootfs a, b;
  struct bg_rootfs_meta m = META;
  struct bg_error err;
  unsigned char raw[BG_SHA256_LEN];
  char hex[BG_SHA256_HEXLEN + 1], given[BG_DIGEST_STRLEN];

  store(&c, &a); /* hashed as it is compressed */
  bg_error_clear(&err);
  CHECK_INT(bg_sha256_file("image", raw, NULL, &err), 0);
  bg_hex(raw, sizeof(raw), hex);
  CHECK_STR(a.image.hex, hex);
  /* given: the manifest says it, the image is not hashed again (a wrong one would be caught
   * by the next restore, which checks the image's sha256) */
  snprintf(given, sizeof(given), "sha256:%s", hex);
  m.image_sha256 = given;
  CHECK_INT(bg_rootfs_store(&c, "image", &m, &b, &err), 0);
  CHECK_STR(b.image.hex, hex);
  CHECK_STR(b.digest, a.digest);
  m.image_sha256 = "sha256:" "44444444444444444444444444444444444444444444444444444444444444";
  CHECK_INT(bg_rootfs_store(&c, "image", &m, &b, &err), -1);
  CHECK_CONTAINS(err.msg, "invalid digest");
}
