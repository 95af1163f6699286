/* Specification of training through the C ABI: a ResNet-20 of each variant memorises one fixed
   batch, deterministically. */
#include <math.h>
#include <stdlib.h>
#include "check.h"

enum { BATCH = 64, SAMPLE = 3 * 32 * 32, STEPS = 40 };

static float uniform(uint64_t *state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((*state >> 40) * (1.0 / 16777216.0));
}

static void make_batch(float *x, int32_t *labels) {
  uint64_t s = 42;
  for (int i = 0; i < BATCH * SAMPLE; i++) x[i] = 2 * uniform(&s) - 1;
  for (int i = 0; i < BATCH; i++) labels[i] = (int32_t)(uniform(&s) * 10);
}

/* Trains STEPS steps on the batch; returns the first and last loss through the pointers. */
static void memorise(const char *variant, const float *x, const int32_t *labels) {
  char spec[128];
  snprintf(spec, sizeof spec, "depth=20 variant=%s input=3x32x32 classes=10 seed=7", variant);
  sc_model *m = NULL;
  sc_trainer *t = NULL;
  CHECK_OK(sc_model_create(spec, &m));
  CHECK_OK(sc_trainer_create(m, "lr=0.1 momentum=0.9 weight_decay=0.0001", &t));
  float first = NAN, loss = NAN;
  for (int step = 0; step < STEPS; step++) {
    int64_t correct = -1;
    CHECK_OK(sc_trainer_step(t, x, labels, BATCH, &loss, &correct));
    if (step == 0) first = loss;
    CHECK(correct >= 0 && correct <= BATCH, "correct = %lld", (long long)correct);
  }
  int64_t iteration = -1;
  CHECK_OK(sc_trainer_iteration(t, &iteration));
  CHECK(iteration == STEPS, "iteration %lld after %d steps", (long long)iteration, STEPS);
  printf("%s ResNet-20: loss %.4f -> %.4f after %d steps\n", variant, first, loss, STEPS);
  CHECK(isfinite(first) && first > 1.5f, "%s: first loss %f is not that of an untrained 10-class model", variant, first);
  CHECK(loss < first / 4, "%s: loss %f did not fall below a quarter of %f", variant, loss, first);

  float eval_loss = NAN;
  int64_t eval_correct = -1;
  CHECK_OK(sc_trainer_evaluate(t, x, labels, BATCH, &eval_loss, &eval_correct));
  CHECK(isfinite(eval_loss) && eval_correct >= 0, "evaluate: loss %f correct %lld", eval_loss, (long long)eval_correct);
  CHECK_OK(sc_trainer_iteration(t, &iteration));
  CHECK(iteration == STEPS, "evaluate changed the iteration to %lld", (long long)iteration);
  sc_trainer_destroy(t);
  sc_model_destroy(m);
}

/* Two runs with the same spec and seed end with bit-identical weights. */
static void deterministic(const float *x, const int32_t *labels) {
  float *w[2];
  int64_t len = 16 * 3 * 3 * 3;
  for (int run = 0; run < 2; run++) {
    sc_model *m = NULL;
    sc_trainer *t = NULL;
    CHECK_OK(sc_model_create("depth=8 variant=caffe seed=3 dropout=0.3", &m));
    CHECK_OK(sc_trainer_create(m, "lr=0.05", &t));
    for (int step = 0; step < 3; step++) CHECK_OK(sc_trainer_step(t, x, labels, 16, NULL, NULL));
    w[run] = malloc(sizeof(float) * len);
    CHECK_OK(sc_model_param_get(m, "conv1.weight", w[run], len));
    sc_trainer_destroy(t);
    sc_model_destroy(m);
  }
  CHECK(memcmp(w[0], w[1], sizeof(float) * len) == 0, "two identical runs differ");
  free(w[0]);
  free(w[1]);
}

int main(void) {
  float *x = malloc(sizeof(float) * BATCH * SAMPLE);
  int32_t labels[BATCH];
  make_batch(x, labels);
  memorise("he-a", x, labels);
  memorise("caffe", x, labels);
  deterministic(x, labels);
  free(x);
  return check_summary("test_training");
}
