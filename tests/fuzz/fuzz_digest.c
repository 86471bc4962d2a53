/* Digest strings: only "sha256:" and 64 lower-case hex digits parse, and a parsed digest
 * formats back to exactly the input. */
#include "fuzz.h"

#include "digest/digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = fuzz_cstr(data, size);
  char back[BG_DIGEST_STRLEN];
  struct bg_digest d;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_digest_parse(s, &d, &err) == 0) {
    FUZZ_ASSERT(strlen(s) == BG_DIGEST_STRLEN - 1);
    bg_digest_format(d.raw, back);
    FUZZ_ASSERT(strcmp(back, s) == 0);
    FUZZ_ASSERT(strcmp(d.hex, s + 7) == 0);
  } else {
    FUZZ_ASSERT(err.code == BG_EINVAL && err.msg[0] != '\0');
  }
  free(s);
  return 0;
}
