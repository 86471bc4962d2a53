/* A small test harness: each BG_TEST(name) is registered as its own CTest test.
 * The binary runs one case (argv[1]) or all of them; exit 0 pass, 1 fail, 2 skip. */
#ifndef BG_HARNESS_H
#define BG_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bg_test_register(const char *name, void (*fn)(void));
void bg_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void bg_test_skip(const char *why) __attribute__((noreturn));

/* Where a test may put its files: the fresh working directory CTest gives it. */
const char *bg_test_dir(void);

#define BG_TEST(name)                                                                              \
  static void test_##name(void);                                                                   \
  __attribute__((constructor)) static void register_##name(void)                                   \
  {                                                                                                \
    bg_test_register(#name, test_##name);                                                          \
  }                                                                                                \
  static void test_##name(void)

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      bg_test_fail(__FILE__, __LINE__, "%s", #cond);                                               \
  } while (0)

#define CHECK_INT(a, b)                                                                            \
  do {                                                                                             \
    long long a_ = (long long)(a), b_ = (long long)(b);                                            \
    if (a_ != b_)                                                                                  \
      bg_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);                  \
  } while (0)

#define CHECK_STR(a, b)                                                                            \
  do {                                                                                             \
    const char *a_ = (a), *b_ = (b);                                                               \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                           \
      bg_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",   \
                   b_ ? b_ : "(null)");                                                            \
  } while (0)

/* The message contains needle. */
#define CHECK_CONTAINS(hay, needle)                                                                \
  do {                                                                                             \
    const char *h_ = (hay), *n_ = (needle);                                                        \
    if (h_ == NULL || strstr(h_, n_) == NULL)                                                      \
      bg_test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);  \
  } while (0)

#endif
