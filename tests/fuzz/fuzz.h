/* What every fuzz target shares: the libFuzzer entry point and a NUL-terminated copy of the
 * input for the parsers that take C strings. */
#ifndef BG_FUZZ_H
#define BG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data as a C string, cut at the first NUL; abort()s when out of memory (libFuzzer reports it). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);

  if (s == NULL)
    abort();
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/* A property that must hold: a failure is a bug the fuzzer reports with the input. */
#define FUZZ_ASSERT(cond)                                                                          \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      __builtin_trap();                                                                            \
  } while (0)

#endif
