/* A minimal test harness for the C tests: CHECK records a pass or a failure with its location,
   and check_summary prints "N passed, N failed" and gives the exit status. */
#ifndef SUPERCONV_TEST_CHECK_H
#define SUPERCONV_TEST_CHECK_H
#include <stdio.h>
#include <string.h>
#include <superconv.h>

static int check_passed, check_failed;

#define CHECK(cond, ...) do { \
    if (cond) { check_passed++; } else { \
      check_failed++; fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } } while (0)

/* A call that must fail with `expected`, leaving a message that contains `needle`. */
#define CHECK_FAILS(call, expected, needle) do { \
    sc_status rc_ = (call); \
    CHECK(rc_ == (expected), "%s returned %s, expected %s (%s)", #call, sc_status_name(rc_), \
          sc_status_name(expected), sc_last_error()); \
    CHECK(strstr(sc_last_error(), (needle)) != NULL, "message of %s lacks '%s': %s", #call, (needle), \
          sc_last_error()); } while (0)

#define CHECK_OK(call) do { sc_status rc_ = (call); \
    CHECK(rc_ == SC_OK, "%s returned %s: %s", #call, sc_status_name(rc_), sc_last_error()); } while (0)

static int check_summary(const char *suite) {
  printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
  return check_failed == 0 ? 0 : 1;
}
#endif
