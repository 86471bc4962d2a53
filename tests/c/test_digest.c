#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest/digest.h"

static const char empty_hex[] =
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static void hex_of(const void *p, size_t n, char *hex)
{
  unsigned char raw[BG_SHA256_LEN];
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_sha256_buf(p, n, raw, &err), 0);
  bg_hex(raw, sizeof(raw), hex);
}

BG_TEST(known_vectors)
{
  char hex[BG_SHA256_HEXLEN + 1];

  hex_of("", 0, hex);
  CHECK_STR(hex, empty_hex);
  hex_of("abc", 3, hex);
  CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BG_TEST(incremental_matches_oneshot)
{
  static const char text[] = "The quick brown fox jumps over the lazy dog";
  unsigned char a[BG_SHA256_LEN], b[BG_SHA256_LEN];
  struct bg_sha256 *h;
  struct bg_error err;
  size_t i;

  bg_error_clear(&err);
  h = bg_sha256_new(&err);
  CHECK(h != NULL);
  for (i = 0; i < sizeof(text) - 1; i++)
    CHECK_INT(bg_sha256_update(h, text + i, 1, &err), 0);
  CHECK_INT(bg_sha256_final(h, a, &err), 0);
  CHECK_INT(bg_sha256_buf(text, sizeof(text) - 1, b, &err), 0);
  CHECK(memcmp(a, b, sizeof(a)) == 0);
  /* final resets: the hasher starts again from nothing */
  CHECK_INT(bg_sha256_final(h, a, &err), 0);
  CHECK_INT(bg_sha256_buf("", 0, b, &err), 0);
  CHECK(memcmp(a, b, sizeof(a)) == 0);
  bg_sha256_free(h);
}

BG_TEST(parse_accepts_valid)
{
  char s[BG_DIGEST_STRLEN];
  struct bg_digest d;
  struct bg_error err;

  bg_error_clear(&err);
  snprintf(s, sizeof(s), "sha256:%s", empty_hex);
  CHECK_INT(bg_digest_parse(s, &d, &err), 0);
  CHECK_STR(d.hex, empty_hex);
  CHECK_INT(d.raw[0], 0xe3);
  CHECK_INT(d.raw[31], 0x55);
}

BG_TEST(parse_rejects_invalid)
{
  static const char *const bad[] = {
    "",
    "sha256:",
    "sha256:abc",
    "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
    "sha256:../../../../etc/passwd000000000000000000000000000000000000000000",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  };
  struct bg_digest d;
  struct bg_error err;
  size_t i;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    bg_error_clear(&err);
    CHECK_INT(bg_digest_parse(bad[i], &d, &err), -1);
    CHECK_INT(err.code, BG_EINVAL);
  }
  bg_error_clear(&err);
  bg_digest_parse(bad[3], &d, &err);
  CHECK_CONTAINS(err.msg, "unsupported digest algorithm");
}

BG_TEST(file_missing)
{
  unsigned char raw[BG_SHA256_LEN];
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_sha256_file("does-not-exist", raw, NULL, &err), -1);
  CHECK_INT(err.code, BG_ENOTFOUND);
  CHECK_CONTAINS(err.msg, "cannot open does-not-exist");
}

/* sha256sum's digest of a file. */
static void sha256sum_of(const char *name, char *hex)
{
  char cmd[256], line[256];
  FILE *p;

  snprintf(cmd, sizeof(cmd), "sha256sum %s", name);
  p = popen(cmd, "r");
  CHECK(p != NULL);
  CHECK(fgets(line, sizeof(line), p) != NULL);
  CHECK_INT(pclose(p), 0);
  line[BG_SHA256_HEXLEN] = '\0';
  memcpy(hex, line, BG_SHA256_HEXLEN + 1);
}

/* Hashes a file written here and compares with what sha256sum prints. */
static void compare_with_sha256sum(const char *name, size_t size)
{
  unsigned char raw[BG_SHA256_LEN];
  char hex[BG_SHA256_HEXLEN + 1], want[BG_SHA256_HEXLEN + 1];
  unsigned char *block;
  struct bg_error err;
  uint64_t got = 0;
  size_t done = 0, i, n;
  FILE *f;

  block = malloc(1 << 16);
  CHECK(block != NULL);
  f = fopen(name, "wb");
  CHECK(f != NULL);
  while (done < size) {
    n = size - done < (1 << 16) ? size - done : (1 << 16);
    for (i = 0; i < n; i++)
      block[i] = (unsigned char)((done + i) * 2654435761u >> 13);
    CHECK_INT(fwrite(block, 1, n, f), n);
    done += n;
  }
  CHECK_INT(fclose(f), 0);
  free(block);

  bg_error_clear(&err);
  CHECK_INT(bg_sha256_file(name, raw, &got, &err), 0);
  CHECK_INT(got, size);
  bg_hex(raw, sizeof(raw), hex);
  sha256sum_of(name, want);
  CHECK_STR(hex, want);
}

BG_TEST(file_0_bytes)
{
  compare_with_sha256sum("zero", 0);
}

BG_TEST(file_1_byte)
{
  compare_with_sha256sum("one", 1);
}

BG_TEST(file_100_mib)
{
  compare_with_sha256sum("big", (size_t)100 << 20);
  unlink("big");
}

/* Data at the given offsets of a sparse file of size bytes: holes before, between and after. */
static void sparse_file(const char *name, const uint64_t *at, size_t n, uint64_t size)
{
  unsigned char block[5000];
  size_t i, j;
  int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

  CHECK(fd >= 0);
  for (i = 0; i < n; i++) {
    for (j = 0; j < sizeof(block); j++)
      block[j] = (unsigned char)(i * 131 + j * 7 + 1);
    CHECK_INT(pwrite(fd, block, sizeof(block), (off_t)at[i]), sizeof(block));
  }
  CHECK_INT(ftruncate(fd, (off_t)size), 0);
  CHECK_INT(close(fd), 0);
}

static void check_sparse(const char *name, const uint64_t *at, size_t n, uint64_t size)
{
  unsigned char raw[BG_SHA256_LEN];
  char hex[BG_SHA256_HEXLEN + 1], want[BG_SHA256_HEXLEN + 1];
  struct bg_error err;
  uint64_t got = 0;
  int fd;

  sparse_file(name, at, n, size);
  sha256sum_of(name, want);
  bg_error_clear(&err);
  CHECK_INT(bg_sha256_file(name, raw, &got, &err), 0);
  CHECK_INT(got, size);
  bg_hex(raw, sizeof(raw), hex);
  CHECK_STR(hex, want);
  /* from offset 0 whatever the position, which it leaves alone */
  fd = open(name, O_RDONLY);
  CHECK(fd >= 0);
  CHECK_INT(lseek(fd, 3, SEEK_SET), 3);
  got = 0;
  CHECK_INT(bg_sha256_sparse(fd, name, NULL, raw, &got, &err), 0);
  CHECK_INT(got, size);
  CHECK_INT(lseek(fd, 0, SEEK_CUR), 3);
  close(fd);
  bg_hex(raw, sizeof(raw), hex);
  CHECK_STR(hex, want);
  unlink(name);
}

BG_TEST(sparse_files_match_sha256sum)
{
  static const uint64_t mid[] = {1 << 20, 9 << 20, (9 << 20) + 5000};
  static const uint64_t start[] = {0, 3 << 20};
  static const uint64_t tail[] = {(64 << 20) - 5000};

  check_sparse("holes-between", mid, 3, 40 << 20);
  check_sparse("data-first", start, 2, (3 << 20) + 5000);
  check_sparse("data-last", tail, 1, 64 << 20);
  check_sparse("all-hole", NULL, 0, 32 << 20);
  check_sparse("odd-size", mid, 1, (1 << 20) + 7777);
}

/* A file written as it is hashed: each ask of the gate writes the file's data up to the next
 * MiB and says it is final up to there; what lies past is still a hole. */
struct growing {
  int fd;
  const uint64_t *at;
  size_t n, next; /* the data pieces, the first not yet written */
  uint64_t final;
  int asked, fail_at;
};

static uint64_t grow(void *ctx, uint64_t at, struct bg_error *err)
{
  struct growing *g = ctx;
  unsigned char block[5000];
  size_t j;

  if (++g->asked == g->fail_at) {
    bg_error_set(err, BG_EIO, "the writer failed");
    return 0;
  }
  g->final = (at / (1 << 20) + 1) << 20; /* never less than before: at is below it or past it */
  for (; g->next < g->n && g->at[g->next] < g->final; g->next++) {
    for (j = 0; j < sizeof(block); j++)
      block[j] = (unsigned char)(g->next * 131 + j * 7 + 1);
    CHECK_INT(pwrite(g->fd, block, sizeof(block), (off_t)g->at[g->next]), sizeof(block));
  }
  return g->final;
}

/* With a gate, nothing is looked at before the gate calls it final: a file still being written
 * hashes as it ends up (what sha256sum says of it then), read or mapped; a gate's failure stops
 * the hash. */
BG_TEST(sparse_hashes_a_file_being_written_behind_its_gate)
{
  static const uint64_t at[] = {0, 1 << 20, (3 << 20) - 100, 5 << 20, (5 << 20) + 70000};
  struct growing g;
  struct bg_sparse_gate gate = {grow, &g, 0};
  unsigned char raw[BG_SHA256_LEN];
  char hex[BG_SHA256_HEXLEN + 1], want[BG_SHA256_HEXLEN + 1];
  struct bg_error err;
  uint64_t got = 0;

  sparse_file("final", at, 5, 7 << 20);
  sha256sum_of("final", want);
  for (gate.mapped = 0; gate.mapped <= 1; gate.mapped++) {
    g = (struct growing){-1, at, 5, 0, 0, 0, 0};
    g.fd = open("growing", O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(g.fd >= 0);
    CHECK_INT(ftruncate(g.fd, 7 << 20), 0);
    bg_error_clear(&err);
    CHECK_INT(bg_sha256_sparse(g.fd, "growing", &gate, raw, &got, &err), 0);
    CHECK_INT(got, 7 << 20);
    bg_hex(raw, sizeof(raw), hex);
    CHECK_STR(hex, want);
    CHECK(g.asked >= 7); /* once a MiB at least */
    g.final = 0;
    g.next = 0;
    g.asked = 0;
    g.fail_at = 3;
    CHECK_INT(bg_sha256_sparse(g.fd, "growing", &gate, raw, &got, &err), -1);
    CHECK_STR(err.msg, "the writer failed");
    CHECK_INT(close(g.fd), 0);
  }
}

BG_TEST(sparse_needs_a_regular_file)
{
  unsigned char raw[BG_SHA256_LEN];
  struct bg_error err;
  int p[2];

  CHECK_INT(pipe(p), 0);
  bg_error_clear(&err);
  CHECK_INT(bg_sha256_sparse(p[0], "the pipe", NULL, raw, NULL, &err), -1);
  CHECK_CONTAINS(err.msg, "the pipe is not a regular file");
  close(p[0]);
  close(p[1]);
}
