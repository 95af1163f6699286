/* Specification of schedules through the C ABI: values at phase boundaries, tables, errors,
   and a trainer driven by a schedule. */
#include <math.h>
#include <stdlib.h>
#include "check.h"

static void values(void) {
  sc_schedule *s = NULL;
  CHECK_OK(sc_schedule_create("policy=triangular base_lr=0.1 max_lr=3 stepsize=5000", &s));
  float lr = 0, m = 0;
  CHECK_OK(sc_schedule_at(s, 5000, &lr, &m));
  CHECK(fabsf(lr - 3.0f) < 1e-6f && fabsf(m - 0.9f) < 1e-7f, "peak lr %g momentum %g", lr, m);
  CHECK_OK(sc_schedule_at(s, 10000, &lr, NULL));
  CHECK(fabsf(lr - 0.1f) < 1e-6f, "end of the cycle: lr %g", lr);
  CHECK(sc_schedule_spec(s) && strcmp(sc_schedule_spec(s), "policy=triangular base_lr=0.1 max_lr=3 stepsize=5000 stepsize_down=0 "
                                    "gamma=0.99994 max_iter=0 momentum=0.9 warmup=0") == 0,
        "spec %s", sc_schedule_spec(s));
  float table[5], moms[5];
  CHECK_OK(sc_schedule_table(s, 0, 5, table, moms, 5));
  CHECK(fabsf(table[4] - (0.1f + 2.9f * 4 / 5000)) < 1e-6f, "table[4] = %g", table[4]);
  CHECK_FAILS(sc_schedule_table(s, 0, 5, table, moms, 4), SC_ERR_SHAPE, "len is 4");
  CHECK_FAILS(sc_schedule_at(s, -1, &lr, &m), SC_ERR_INVALID_ARGUMENT, "iteration = -1");
  CHECK_FAILS(sc_schedule_at(NULL, 0, &lr, &m), SC_ERR_INVALID_ARGUMENT, "s is NULL");
  sc_schedule_destroy(s);
  CHECK_FAILS(sc_schedule_at(s, 0, &lr, &m), SC_ERR_INVALID_ARGUMENT, "not a live sc_schedule");

  CHECK_OK(sc_schedule_create("policy=onecycle base_lr=0.1 max_lr=3 stepsize=5000 annihilation=0.001 momentum=0.95,0.85", &s));
  CHECK_OK(sc_schedule_at(s, 5000, &lr, &m));
  CHECK(fabsf(m - 0.85f) < 1e-6f, "momentum at the peak %g", m);
  CHECK_OK(sc_schedule_at(s, 20000, &lr, &m));
  CHECK(fabsf(lr - 0.0001f) < 1e-9f && fabsf(m - 0.95f) < 1e-6f, "held after the end: %g %g", lr, m);
  sc_schedule_destroy(s);
}

static void errors(void) {
  sc_schedule *s = (sc_schedule *)0x1;
  CHECK_FAILS(sc_schedule_create("policy=cosine", &s), SC_ERR_INVALID_ARGUMENT, "policy=cosine");
  CHECK(s == NULL, "out not cleared");
  CHECK_FAILS(sc_schedule_create("policy=triangular stepsize=-3", &s), SC_ERR_INVALID_ARGUMENT, "stepsize=-3");
  CHECK_FAILS(sc_schedule_create("policy=triangular base_lr=3 max_lr=1", &s), SC_ERR_INVALID_ARGUMENT, "max_lr=1");
  CHECK_FAILS(sc_schedule_create("policy=multistep stepvalues=5,5", &s), SC_ERR_INVALID_ARGUMENT, "stepvalues");
  CHECK_FAILS(sc_schedule_create("policy=fixed base_lr=inf", &s), SC_ERR_INVALID_ARGUMENT, "base_lr=inf");
  CHECK_FAILS(sc_schedule_create("policy=fixed stepsize=10", &s), SC_ERR_INVALID_ARGUMENT, "unknown key 'stepsize'");
  CHECK_FAILS(sc_schedule_create("policy=fixed", NULL), SC_ERR_INVALID_ARGUMENT, "out is NULL");
}

/* A trainer given the schedule "fixed 0.05, momentum 0.9" trains exactly as one whose spec says
   lr=0.05 momentum=0.9; one given lr 0 and no decay leaves the weights as they are. */
static void trainer(void) {
  enum { N = 4, SAMPLE = 3 * 8 * 8, W = 16 * 27 };
  float x[N * SAMPLE], w[3][W];
  int32_t labels[N] = {0, 1, 0, 1};
  for (int i = 0; i < N * SAMPLE; i++) x[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
  const char *trainer_specs[3] = {"lr=0.05 momentum=0.9", "lr=1 momentum=0.5", "weight_decay=0"};
  const char *schedules[3] = {NULL, "policy=fixed base_lr=0.05 momentum=0.9", "policy=fixed base_lr=0"};
  for (int k = 0; k < 3; k++) {
    sc_model *m = NULL;
    sc_trainer *t = NULL;
    CHECK_OK(sc_model_create("depth=8 variant=he-a input=3x8x8 classes=2 seed=9", &m));
    CHECK_OK(sc_trainer_create(m, trainer_specs[k], &t));
    if (schedules[k]) {
      sc_schedule *s = NULL;
      CHECK_OK(sc_schedule_create(schedules[k], &s));
      CHECK_OK(sc_trainer_set_schedule(t, s));
      sc_schedule_destroy(s);  /* the trainer keeps its own copy */
    }
    if (k == 2) CHECK_OK(sc_model_param_get(m, "conv1.weight", w[2], W));
    for (int step = 0; step < 3; step++) CHECK_OK(sc_trainer_step(t, x, labels, N, NULL, NULL));
    if (k < 2) CHECK_OK(sc_model_param_get(m, "conv1.weight", w[k], W));
    else {
      float after[W];
      CHECK_OK(sc_model_param_get(m, "conv1.weight", after, W));
      CHECK(memcmp(after, w[2], sizeof after) == 0, "lr 0 without decay changed the weights");
    }
    CHECK_FAILS(sc_trainer_set_schedule(t, NULL), SC_ERR_INVALID_ARGUMENT, "s is NULL");
    sc_trainer_destroy(t);
    sc_model_destroy(m);
  }
  CHECK(memcmp(w[0], w[1], sizeof w[0]) == 0, "a fixed schedule trains differently from the same lr in the spec");
}

int main(void) {
  values();
  errors();
  trainer();
  return check_summary("test_schedules");
}
