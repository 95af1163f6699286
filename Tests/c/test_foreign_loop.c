/* Specification of embedding: a host's own training loop (logistic regression in plain C, no
   superconv model) takes its learning rate and momentum from a superconv schedule and its
   updates from a superconv optimizer (whose state survives a get/set round trip), runs a range
   test through the standalone analyser, and follows the Eq. 8 estimator. */
#include <math.h>
#include <stdlib.h>
#include "check.h"

enum { N = 200, D = 5, P = D + 1 };

static float xs[N][D];
static int ys[N];

static void make_data(void) {
  uint64_t s = 7;
  const float truth[D] = {1.5f, -2.0f, 0.5f, 0.0f, 1.0f};
  for (int i = 0; i < N; i++) {
    float z = 0.3f;
    for (int j = 0; j < D; j++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      xs[i][j] = (float)((s >> 40) * (1.0 / 16777216.0)) * 2 - 1;
      z += truth[j] * xs[i][j];
    }
    ys[i] = z > 0;
  }
}

/* Mean logistic loss and its gradient for weights w[0..D-1], bias w[D]. */
static float loss_and_gradient(const float *w, float *g) {
  double loss = 0;
  memset(g, 0, sizeof(float) * P);
  for (int i = 0; i < N; i++) {
    float z = w[D];
    for (int j = 0; j < D; j++) z += w[j] * xs[i][j];
    float p = 1 / (1 + expf(-z));
    loss += -(ys[i] ? log(p + 1e-12) : log(1 - p + 1e-12));
    for (int j = 0; j < D; j++) g[j] += (p - ys[i]) * xs[i][j] / N;
    g[D] += (p - ys[i]) / N;
  }
  return (float)(loss / N);
}

static void train(const char *optimizer_spec, const char *schedule_spec, int steps) {
  sc_optimizer *o = NULL;
  sc_schedule *s = NULL;
  CHECK_OK(sc_optimizer_create(optimizer_spec, P, &o));
  CHECK_OK(sc_schedule_create(schedule_spec, &s));
  float w[P] = {0}, g[P];
  float first = loss_and_gradient(w, g), last = first;
  for (int it = 0; it < steps; it++) {
    float lr, momentum;
    CHECK_OK(sc_schedule_at(s, it, &lr, &momentum));
    last = loss_and_gradient(w, g);
    CHECK_OK(sc_optimizer_step(o, w, g, P, lr, momentum));
  }
  printf("%s with %s: logistic loss %.4f -> %.4f in %d steps\n", optimizer_spec, schedule_spec, first, last, steps);
  CHECK(last < 0.5f * first, "%s: loss %f did not halve from %f", optimizer_spec, last, first);
  sc_schedule_destroy(s);
  sc_optimizer_destroy(o);
}

static void state_round_trip(void) {
  sc_optimizer *a = NULL, *b = NULL;
  CHECK_OK(sc_optimizer_create("optimizer=adam weight_decay=0", P, &a));
  CHECK_OK(sc_optimizer_create("optimizer=adam weight_decay=0", P, &b));
  float wa[P] = {0}, wb[P], g[P];
  for (int it = 0; it < 5; it++) { loss_and_gradient(wa, g); CHECK_OK(sc_optimizer_step(a, wa, g, P, 0.1f, 0.9f)); }
  int64_t len = 0, steps = 0;
  CHECK_OK(sc_optimizer_state_size(a, &len));
  CHECK(len == 2 * P, "adam state has %lld floats", (long long)len);
  float *state = malloc(sizeof(float) * len);
  CHECK_OK(sc_optimizer_state_get(a, state, len, &steps));
  CHECK(steps == 5, "steps %lld", (long long)steps);
  CHECK_OK(sc_optimizer_state_set(b, state, len, steps));
  memcpy(wb, wa, sizeof wa);
  for (int it = 0; it < 3; it++) {
    loss_and_gradient(wa, g); CHECK_OK(sc_optimizer_step(a, wa, g, P, 0.1f, 0.9f));
    loss_and_gradient(wb, g); CHECK_OK(sc_optimizer_step(b, wb, g, P, 0.1f, 0.9f));
  }
  CHECK(memcmp(wa, wb, sizeof wa) == 0, "an optimizer restored from state continues differently");

  CHECK_FAILS(sc_optimizer_state_get(a, state, len - 1, NULL), SC_ERR_SHAPE, "len is 11");
  state[3] = NAN;
  CHECK_FAILS(sc_optimizer_state_set(b, state, len, 0), SC_ERR_INVALID_ARGUMENT, "state[3] = nan");
  CHECK_FAILS(sc_optimizer_step(a, wa, g, P - 1, 0.1f, 0.9f), SC_ERR_SHAPE, "created for 6 parameters, n is 5");
  CHECK_FAILS(sc_optimizer_step(a, wa, g, P, NAN, 0.9f), SC_ERR_INVALID_ARGUMENT, "lr = nan");
  CHECK_FAILS(sc_optimizer_step(a, wa, g, P, 0.1f, 1.0f), SC_ERR_INVALID_ARGUMENT, "momentum = 1.0");
  CHECK_FAILS(sc_optimizer_step(a, NULL, g, P, 0.1f, 0.9f), SC_ERR_INVALID_ARGUMENT, "params is NULL");
  float before[P];
  memcpy(before, wa, sizeof wa);
  g[2] = INFINITY;
  CHECK_FAILS(sc_optimizer_step(a, wa, g, P, 0.1f, 0.9f), SC_ERR_NONFINITE, "grads[2] = inf");
  CHECK(memcmp(before, wa, sizeof wa) == 0, "a refused step changed the parameters");
  g[2] = 0;
  wa[1] = NAN;
  CHECK_FAILS(sc_optimizer_step(a, wa, g, P, 0.1f, 0.9f), SC_ERR_INVALID_ARGUMENT, "params[1] = nan");
  wa[1] = before[1];

  /* Adam's second moment of a gradient of 1e30 overflows to inf (state_set would then refuse
     what state_get returns): the step is refused and undone. */
  sc_optimizer *adam = NULL;
  float w[P] = {0}, huge[P] = {0}, adam_before[2 * P], adam_after[2 * P];
  int64_t steps_before = -1, steps_after = -1;
  CHECK_OK(sc_optimizer_create("optimizer=adam", P, &adam));
  CHECK_OK(sc_optimizer_step(adam, w, g, P, 0.1f, 0.9f));
  CHECK_OK(sc_optimizer_state_get(adam, adam_before, 2 * P, &steps_before));
  memcpy(before, w, sizeof w);
  huge[4] = 1e30f;
  CHECK_FAILS(sc_optimizer_step(adam, w, huge, P, 0.1f, 0.9f), SC_ERR_NONFINITE, "parameters and state unchanged");
  CHECK_OK(sc_optimizer_state_get(adam, adam_after, 2 * P, &steps_after));
  CHECK(memcmp(before, w, sizeof w) == 0 && memcmp(adam_before, adam_after, sizeof adam_after) == 0 &&
        steps_before == steps_after, "a refused Adam step changed the parameters, the state or the step count");
  CHECK_OK(sc_optimizer_state_set(adam, adam_after, 2 * P, steps_after));
  sc_optimizer_destroy(adam);
  sc_optimizer *c = (sc_optimizer *)0x1;
  CHECK_FAILS(sc_optimizer_create("optimizer=lion", P, &c), SC_ERR_INVALID_ARGUMENT, "optimizer=lion");
  CHECK(c == NULL, "out not cleared");
  CHECK_FAILS(sc_optimizer_create("", 0, &c), SC_ERR_INVALID_ARGUMENT, "n = 0");
  free(state);
  sc_optimizer_destroy(a);
  sc_optimizer_destroy(b);
}

/* The host sweeps its learning rate with a superconv ramp, records each step into a range test,
   and reads the suggestions and the verdict. */
static void range_test(void) {
  sc_range_test *r = NULL;
  sc_schedule *ramp = NULL;
  sc_optimizer *o = NULL;
  CHECK_OK(sc_range_test_create("min_div=4", &r));
  CHECK_OK(sc_schedule_create("policy=exp_ramp base_lr=0.001 max_lr=1000 max_iter=120", &ramp));
  CHECK_OK(sc_optimizer_create("optimizer=sgd form=pytorch weight_decay=0", P, &o));
  float w[P] = {0}, g[P];
  for (int it = 0; it <= 120; it++) {
    float lr, momentum;
    CHECK_OK(sc_schedule_at(ramp, it, &lr, &momentum));
    float loss = loss_and_gradient(w, g);
    int correct = 0;
    for (int i = 0; i < N; i++) {
      float z = w[D];
      for (int j = 0; j < D; j++) z += w[j] * xs[i][j];
      correct += (z > 0) == ys[i];
    }
    CHECK_OK(sc_range_test_record(r, lr, loss, (float)correct / N, NAN, NAN));
    if (!isfinite(loss) || sc_optimizer_step(o, w, g, P, lr, 0.0f) != SC_OK) break;
  }
  int64_t count = 0;
  CHECK_OK(sc_range_test_count(r, &count));
  double valley = NAN, steep = NAN, paper_max = NAN, paper_min = NAN, diverged = 0;
  CHECK_OK(sc_range_test_value(r, "valley", &valley));
  CHECK_OK(sc_range_test_value(r, "steep", &steep));
  CHECK_OK(sc_range_test_value(r, "paper_max", &paper_max));
  CHECK_OK(sc_range_test_value(r, "paper_min", &paper_min));
  CHECK_OK(sc_range_test_value(r, "diverged_at", &diverged));
  const char *verdict = NULL, *evidence = NULL;
  CHECK_OK(sc_range_test_verdict(r, &verdict, &evidence));
  printf("host range test: %lld points, valley %.4g, steep %.4g, paper %.4g..%.4g, diverged at %g, verdict %s (%s)\n",
         (long long)count, valley, steep, paper_min, paper_max, diverged, verdict, evidence);
  CHECK(count > 20, "only %lld points", (long long)count);
  CHECK(valley > 0.001 && valley < 1000 && steep > 0.001 && steep < 1000, "suggestions outside the sweep");
  CHECK(fabs(paper_min * 4 - paper_max) < 1e-9 * paper_max, "min_div=4 not applied");
  CHECK(verdict != NULL && evidence != NULL && strlen(evidence) > 10, "no verdict");
  CHECK_FAILS(sc_range_test_value(r, "optimum", &valley), SC_ERR_INVALID_ARGUMENT, "no value named 'optimum'");
  CHECK_FAILS(sc_range_test_record(r, 0.5f, 1, NAN, NAN, NAN), SC_ERR_INVALID_ARGUMENT, "must not decrease");
  CHECK_FAILS(sc_range_test_record(r, 2000, 1, 1.5f, NAN, NAN), SC_ERR_INVALID_ARGUMENT, "train_acc = 1.5");
  CHECK_FAILS(sc_range_test_point(r, count, NULL, NULL, NULL, NULL, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_FAILS(sc_range_test_create("beta=1", &r), SC_ERR_INVALID_ARGUMENT, "beta=1");
  sc_optimizer_destroy(o);
  sc_schedule_destroy(ramp);
  sc_range_test_destroy(r);
}

/* The host follows its weights with the estimator; on a quadratic it reads 1/h. */
static void estimator(void) {
  sc_lr_estimator *e = NULL;
  CHECK_OK(sc_lr_estimator_create("alpha=0.1 initial=0.1", &e));
  const float h = 4, lr = 0.05f;
  float theta[3] = {1, -2, 0.5f}, raw = 0, smoothed = 0;
  for (int it = 0; it < 3; it++) {
    CHECK_OK(sc_lr_estimator_observe(e, theta, 3, lr, &raw, &smoothed));
    if (it < 2) CHECK(isnan(raw) && isnan(smoothed), "an estimate before three snapshots");
    for (int i = 0; i < 3; i++) theta[i] -= lr * h * theta[i];
  }
  CHECK(fabsf(raw - 1 / h) < 1e-4f, "estimate %g, expected 1/h = %g", raw, 1 / h);
  CHECK(fabsf(smoothed - (0.9f * 0.1f + 0.1f / h)) < 1e-5f, "smoothed %g", smoothed);
  CHECK_FAILS(sc_lr_estimator_observe(e, theta, 2, lr, &raw, &smoothed), SC_ERR_SHAPE, "the first one had 3");
  theta[1] = NAN;
  CHECK_FAILS(sc_lr_estimator_observe(e, theta, 3, lr, &raw, &smoothed), SC_ERR_NONFINITE, "non-finite");
  CHECK_FAILS(sc_lr_estimator_create("norm=l3", &e), SC_ERR_INVALID_ARGUMENT, "norm=l3");
  sc_lr_estimator_destroy(e);
}

int main(void) {
  make_data();
  range_test();
  estimator();
  train("optimizer=sgd form=pytorch weight_decay=0", "policy=onecycle base_lr=0.1 max_lr=3 stepsize=40 max_iter=100", 100);
  train("optimizer=nesterov weight_decay=0", "policy=triangular base_lr=0.1 max_lr=1 stepsize=50 max_iter=100", 100);
  train("optimizer=adam weight_decay=0", "policy=onecycle_cosine max_lr=0.3 total_steps=100", 100);
  train("optimizer=adagrad weight_decay=0", "policy=fixed base_lr=0.5", 100);
  train("optimizer=adadelta weight_decay=0 eps=0.001", "policy=fixed base_lr=1", 100);
  state_round_trip();
  return check_summary("test_foreign_loop");
}
