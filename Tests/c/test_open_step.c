/* Specification of the open training step: sc_trainer_compute_gradients, the flat gradient buffer
   (sc_trainer_gradients), sc_trainer_apply_gradients, and the all-reduce hook that makes
   sc_trainer_step data-parallel. */
#include <math.h>
#include <stdlib.h>
#include "tensors.h"

enum { BATCH = 16, SAMPLE = 3 * 32 * 32, CLASSES = 10 };

static float uniform(uint64_t *state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((*state >> 40) * (1.0 / 16777216.0));
}

static void make_batch(float *x, int32_t *labels, int n, uint64_t seed) {
  for (int i = 0; i < n * SAMPLE; i++) x[i] = 2 * uniform(&seed) - 1;
  for (int i = 0; i < n; i++) labels[i] = (int32_t)(uniform(&seed) * CLASSES);
}

static int same_state(sc_model *a, sc_model *b) {
  int64_t na, nb;
  float *sa = tensors(a, "", 1, &na), *sb = tensors(b, "", 1, &nb);
  int same = na == nb && memcmp(sa, sb, sizeof(float) * na) == 0;
  free(sa);
  free(sb);
  return same;
}

static void make_trainer(const char *model_spec, sc_model **m, sc_trainer **t) {
  CHECK_OK(sc_model_create(model_spec, m));
  CHECK_OK(sc_trainer_create(*m, "lr=0.1 momentum=0.9 weight_decay=0.0005 clip=5", t));
  sc_schedule *s = NULL;
  CHECK_OK(sc_schedule_create("policy=onecycle base_lr=0.05 max_lr=0.5 stepsize=3 max_iter=8", &s));
  CHECK_OK(sc_trainer_set_schedule(*t, s));
  sc_schedule_destroy(s);
}

/* A host playing one rank of two: the other rank's sums are already known. */
typedef struct {
  const float *other;
  int calls;
  int saw_nan;
  sc_status status;
} peer;

static sc_status add_peer(float *data, int64_t len, void *user) {
  peer *p = user;
  p->calls++;
  for (int64_t i = 0; i < len; i++) {
    if (isnan(data[i])) p->saw_nan = 1;
    if (p->other) data[i] += p->other[i];
  }
  return p->status;
}

/* The sum over two ranks that both hold these gradients. */
static sc_status twice(float *data, int64_t len, void *user) {
  (void)user;
  for (int64_t i = 0; i < len; i++) data[i] *= 2;
  return SC_OK;
}

/* sc_trainer_step equals compute + apply, bit for bit, over several steps of a schedule, with
   dropout drawing masks, and with an all-reduce over ranks holding equal gradients. */
static void step_equals_compute_then_apply(const float *x, const int32_t *labels) {
  const char *spec = "depth=8 variant=caffe seed=5 dropout=0.2";
  sc_model *ms, *mo, *mh;
  sc_trainer *ts, *to, *th;
  make_trainer(spec, &ms, &ts);
  make_trainer(spec, &mo, &to);
  make_trainer(spec, &mh, &th);
  CHECK_OK(sc_trainer_set_allreduce(th, twice, NULL, 2));
  for (int step = 0; step < 6; step++) {
    float loss_s = NAN, loss_o = NAN, loss_h = NAN;
    int64_t correct_s = -1, correct_o = -2;
    CHECK_OK(sc_trainer_step(ts, x, labels, BATCH, &loss_s, &correct_s));
    CHECK_OK(sc_trainer_step(th, x, labels, BATCH, &loss_h, NULL));
    CHECK_OK(sc_trainer_compute_gradients(to, x, labels, BATCH, &loss_o, &correct_o));
    CHECK_OK(sc_trainer_apply_gradients(to));
    CHECK(loss_s == loss_o && loss_s == loss_h && correct_s == correct_o, "step %d: loss %.9g / %.9g / %.9g",
          step, loss_s, loss_o, loss_h);
  }
  CHECK(same_state(ms, mo), "compute + apply differs from sc_trainer_step");
  CHECK(same_state(ms, mh), "a step through an all-reduce of equal gradients differs from a step alone");
  int64_t it_s = -1, it_o = -2;
  CHECK_OK(sc_trainer_iteration(ts, &it_s));
  CHECK_OK(sc_trainer_iteration(to, &it_o));
  CHECK(it_s == 6 && it_o == 6, "iterations %lld and %lld after 6 steps", (long long)it_s, (long long)it_o);

  /* Computing twice without applying draws the same dropout masks: only applied steps count. */
  float l1 = NAN, l2 = NAN;
  CHECK_OK(sc_trainer_compute_gradients(to, x, labels, BATCH, &l1, NULL));
  CHECK_OK(sc_trainer_compute_gradients(to, x, labels, BATCH, &l2, NULL));
  CHECK(l1 == l2, "a second computation drew other dropout masks: loss %.9g then %.9g", l1, l2);
  CHECK_OK(sc_trainer_apply_gradients(to));
  CHECK_OK(sc_trainer_step(ts, x, labels, BATCH, NULL, NULL));
  CHECK(same_state(ms, mo), "compute, compute again, apply differs from one step");
  sc_trainer_destroy(ts);
  sc_trainer_destroy(to);
  sc_trainer_destroy(th);
  sc_model_destroy(ms);
  sc_model_destroy(mo);
  sc_model_destroy(mh);
}

/* A refused apply changes nothing; the repaired buffer then applies as the step would have. */
static void refused_apply_changes_nothing(const float *x, const int32_t *labels) {
  sc_model *m, *ref;
  sc_trainer *t, *tr;
  make_trainer("depth=8 variant=he-a seed=2", &m, &t);
  make_trainer("depth=8 variant=he-a seed=2", &ref, &tr);
  CHECK_FAILS(sc_trainer_apply_gradients(t), SC_ERR_STATE, "no gradients to apply");
  CHECK_OK(sc_trainer_step(t, x, labels, BATCH, NULL, NULL));
  CHECK_OK(sc_trainer_step(tr, x, labels, BATCH, NULL, NULL));
  int64_t before_len;
  float *before = tensors(m, "", 1, &before_len);

  CHECK_OK(sc_trainer_compute_gradients(t, x, labels, BATCH, NULL, NULL));
  float *g = NULL;
  int64_t len = 0;
  CHECK_OK(sc_trainer_gradients(t, &g, &len));
  float kept = g[len - 1];
  g[len - 1] = NAN;
  CHECK_FAILS(sc_trainer_apply_gradients(t), SC_ERR_NONFINITE, "fc.bias");
  int64_t after_len, iteration = -1;
  float *after = tensors(m, "", 1, &after_len);
  CHECK(after_len == before_len && memcmp(before, after, sizeof(float) * before_len) == 0,
        "a refused apply changed the model");
  CHECK_OK(sc_trainer_iteration(t, &iteration));
  CHECK(iteration == 1, "a refused apply moved the iteration to %lld", (long long)iteration);
  g[len - 1] = kept;
  int32_t bad[BATCH];
  memcpy(bad, labels, sizeof bad);
  bad[0] = -1;
  CHECK_FAILS(sc_trainer_compute_gradients(t, x, bad, BATCH, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "labels[0]");
  CHECK_OK(sc_trainer_apply_gradients(t));  /* a call refused on its arguments kept the pending gradients */
  CHECK_OK(sc_trainer_step(tr, x, labels, BATCH, NULL, NULL));
  CHECK(same_state(m, ref), "the repaired apply differs from the step");

  /* Another forward pass replaces the batch's BN statistics: the gradients can no longer apply. */
  CHECK_OK(sc_trainer_compute_gradients(t, x, labels, BATCH, NULL, NULL));
  CHECK_OK(sc_trainer_evaluate(t, x, labels, BATCH, NULL, NULL));
  CHECK_FAILS(sc_trainer_apply_gradients(t), SC_ERR_STATE, "another forward pass");
  CHECK_FAILS(sc_trainer_gradients(t, NULL, &len), SC_ERR_INVALID_ARGUMENT, "data");
  CHECK_FAILS(sc_trainer_set_allreduce(t, twice, NULL, 0), SC_ERR_INVALID_ARGUMENT, "world_size");
  free(before);
  free(after);
  sc_trainer_destroy(t);
  sc_trainer_destroy(tr);
  sc_model_destroy(m);
  sc_model_destroy(ref);
}

/* The training-mode loss at the model's weights moved by eps * d (d over the flat buffer). */
static double loss_at(sc_model *m, sc_trainer *t, const float *w0, const double *d, double eps, int64_t len,
                      const float *x, const int32_t *labels) {
  float *w = malloc(sizeof(float) * len);
  for (int64_t i = 0; i < len; i++) w[i] = (float)(w0[i] + eps * d[i]);
  set_tensors(m, "running_", 0, w);
  free(w);
  float loss = NAN;
  CHECK_OK(sc_trainer_compute_gradients(t, x, labels, BATCH, &loss, NULL));
  return loss;
}

/* The flat buffer holds dLoss/dw in the documented order: its dot product with a direction d
   equals the central difference of the loss along d, for single weights at both ends of the
   buffer, the gradient's own direction and a random one. */
static void gradients_match_finite_differences(const float *x, const int32_t *labels) {
  sc_model *m;
  sc_trainer *t;
  CHECK_OK(sc_model_create("depth=8 variant=caffe seed=9", &m));
  CHECK_OK(sc_trainer_create(m, "lr=0.1", &t));
  CHECK_OK(sc_trainer_compute_gradients(t, x, labels, BATCH, NULL, NULL));
  float *buffer = NULL;
  int64_t len = 0;
  CHECK_OK(sc_trainer_gradients(t, &buffer, &len));
  float *g = malloc(sizeof(float) * len);
  memcpy(g, buffer, sizeof(float) * len);

  /* The weights in buffer order: trainable tensors in named-tensor order, statistics skipped. */
  int64_t trainable = 0;
  float *w0 = tensors(m, "running_", 0, &trainable);
  CHECK(trainable == len, "the trainable tensors hold %lld floats, the buffer %lld", (long long)trainable, (long long)len);

  double *d = calloc(len, sizeof(double));
  uint64_t seed = 77;
  for (int direction = 0; direction < 4; direction++) {
    double norm = 0;
    for (int64_t i = 0; i < len; i++) {
      d[i] = direction == 0 ? (i == len - CLASSES + 3)          /* fc.bias[3], the buffer's end */
           : direction == 1 ? (i == 5)                          /* conv1.weight[5], its start */
           : direction == 2 ? g[i]
           : 2 * uniform(&seed) - 1;
      norm += d[i] * d[i];
    }
    for (int64_t i = 0; i < len; i++) d[i] /= sqrt(norm);
    double predicted = 0;
    for (int64_t i = 0; i < len; i++) predicted += d[i] * g[i];
    double eps = 1e-2;
    double measured = (loss_at(m, t, w0, d, eps, len, x, labels) - loss_at(m, t, w0, d, -eps, len, x, labels)) / (2 * eps);
    printf("direction %d: gradient . d = %.6f, finite difference %.6f\n", direction, predicted, measured);
    CHECK(fabs(measured - predicted) <= 0.02 * fabs(predicted) + 2e-4,
          "direction %d: gradient . d = %.6f, central difference %.6f", direction, predicted, measured);
  }
  free(d);
  free(w0);
  free(g);
  sc_trainer_destroy(t);
  sc_model_destroy(m);
}

/* Two ranks, one process: rank 0 steps on its half through a hook that adds rank 1's gradients
   (computed beforehand on the other half); the step applies their mean. It equals computing both
   halves through the open step, averaging and applying. A failing hook fails the step and
   changes nothing; a failing computation still takes part in the exchange, with NaN. */
static void hook_averages_across_ranks(const float *x, const int32_t *labels) {
  const char *spec = "depth=8 variant=caffe seed=4";
  const float *xb = x + (BATCH / 2) * SAMPLE;
  const int32_t *lb = labels + BATCH / 2;
  sc_model *m0, *m1, *ma;
  sc_trainer *t0, *t1, *ta;
  make_trainer(spec, &m0, &t0);
  make_trainer(spec, &m1, &t1);
  make_trainer(spec, &ma, &ta);
  float *g1 = NULL, *ga = NULL, *g0 = NULL;
  int64_t len = 0;
  CHECK_OK(sc_trainer_gradients(t1, &g1, &len));
  CHECK_OK(sc_trainer_gradients(ta, &ga, &len));
  CHECK_OK(sc_trainer_gradients(t0, &g0, &len));
  float *half = malloc(sizeof(float) * len);
  peer other = {half, 0, 0, SC_OK};
  CHECK_OK(sc_trainer_set_allreduce(t0, add_peer, &other, 2));
  for (int step = 0; step < 4; step++) {
    /* Rank 1's contribution: its half, at the same weights (t1 mirrors rank 0's weights). */
    CHECK_OK(sc_trainer_compute_gradients(t1, xb, lb, BATCH / 2, NULL, NULL));
    memcpy(half, g1, sizeof(float) * len);
    CHECK_OK(sc_trainer_step(t0, x, labels, BATCH / 2, NULL, NULL));
    /* The reference: both halves through the open step, averaged, applied once. */
    CHECK_OK(sc_trainer_compute_gradients(ta, xb, lb, BATCH / 2, NULL, NULL));
    memcpy(half, ga, sizeof(float) * len);
    CHECK_OK(sc_trainer_compute_gradients(ta, x, labels, BATCH / 2, NULL, NULL));
    for (int64_t i = 0; i < len; i++) ga[i] = (ga[i] + half[i]) / 2;
    CHECK_OK(sc_trainer_apply_gradients(ta));
    /* Keep rank 1's weights on rank 0's: copy every tensor across. */
    int64_t n;
    float *v = tensors(m0, "", 1, &n);
    set_tensors(m1, "", 1, v);
    free(v);
  }
  CHECK(other.calls == 4, "the hook was called %d times in 4 steps", other.calls);
  CHECK(same_state(m0, ma), "a step through the hook differs from averaging both halves and applying");

  int64_t before_len, iteration = -1;
  float *before = tensors(m0, "", 1, &before_len);
  other.status = SC_ERR_IO;
  CHECK_FAILS(sc_trainer_step(t0, x, labels, BATCH / 2, NULL, NULL), SC_ERR_IO, "all-reduce function returned SC_ERR_IO");
  other.status = SC_OK;
  int32_t bad[BATCH];
  memcpy(bad, labels, sizeof bad);
  bad[1] = CLASSES;
  other.calls = 0;
  other.other = NULL;
  CHECK_FAILS(sc_trainer_step(t0, x, bad, BATCH / 2, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "labels[1]");
  CHECK(other.calls == 1 && other.saw_nan, "a failing rank called the hook %d times (NaN seen: %d); expected once, with NaN",
        other.calls, other.saw_nan);
  int64_t after_len;
  float *after = tensors(m0, "", 1, &after_len);
  CHECK(memcmp(before, after, sizeof(float) * before_len) == 0, "a failed exchange changed the model");
  CHECK_OK(sc_trainer_iteration(t0, &iteration));
  CHECK(iteration == 4, "a failed exchange moved the iteration to %lld", (long long)iteration);

  /* The running statistics' mean across ranks: the other rank's are made up. */
  int64_t stats_len = 0;
  float *mine = tensors(m0, "running_", 1, &stats_len), *theirs = malloc(sizeof(float) * stats_len);
  for (int64_t i = 0; i < stats_len; i++) theirs[i] = (float)(i % 7) * 0.25f;
  other.other = theirs;
  CHECK_OK(sc_trainer_average_statistics(t0));
  float *averaged = tensors(m0, "running_", 1, &stats_len);
  int exact = 1;
  for (int64_t i = 0; i < stats_len; i++) exact &= averaged[i] == (mine[i] + theirs[i]) / 2;
  free(averaged);
  CHECK(exact, "sc_trainer_average_statistics did not give the mean of both ranks' running statistics");
  free(mine);
  free(theirs);
  free(before);
  free(after);
  free(half);
  sc_trainer_destroy(t0);
  sc_trainer_destroy(t1);
  sc_trainer_destroy(ta);
  sc_model_destroy(m0);
  sc_model_destroy(m1);
  sc_model_destroy(ma);
}

int main(void) {
  float *x = malloc(sizeof(float) * BATCH * SAMPLE);
  int32_t labels[BATCH];
  make_batch(x, labels, BATCH, 11);
  step_equals_compute_then_apply(x, labels);
  refused_apply_changes_nothing(x, labels);
  gradients_match_finite_differences(x, labels);
  hook_averages_across_ranks(x, labels);
  free(x);
  return check_summary("test_open_step");
}
