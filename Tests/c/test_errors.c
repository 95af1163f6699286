/* Specification of the C ABI's error paths: every bad input gives a status and a message that
   names what was wrong, and leaves every handle as it was. */
#include <math.h>
#include <stdlib.h>
#include "check.h"

enum { SAMPLE = 1 * 16 * 16, N = 4, CLASSES = 3 };
static const char *SPEC = "depth=8 variant=he-a input=1x16x16 classes=3 seed=5";

static void library(void) {
  char version[32];
  snprintf(version, sizeof version, "%d.%d.%d", SC_VERSION_MAJOR, SC_VERSION_MINOR, SC_VERSION_PATCH);
  CHECK(strcmp(sc_version(), version) == 0, "version %s, the header's %s", sc_version(), version);
  CHECK(sc_abi_version() == SC_ABI_VERSION, "abi %d", sc_abi_version());
  CHECK(strcmp(sc_status_name(SC_ERR_SHAPE), "SC_ERR_SHAPE") == 0, "%s", sc_status_name(SC_ERR_SHAPE));
  CHECK(strcmp(sc_status_name((sc_status)42), "SC_ERR_UNKNOWN") == 0, "%s", sc_status_name((sc_status)42));
  CHECK_FAILS(sc_set_num_threads(0), SC_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_FAILS(sc_set_num_threads(100000), SC_ERR_INVALID_ARGUMENT, "out of range");
  int threads = sc_get_num_threads();
  CHECK(threads >= 1, "threads %d", threads);
  CHECK_OK(sc_set_num_threads(threads));
}

static void model_specs(void) {
  sc_model *m = (sc_model *)0x1;
  CHECK_FAILS(sc_model_create("depth=20 colour=blue", &m), SC_ERR_INVALID_ARGUMENT, "colour");
  CHECK(m == NULL, "out handle not cleared on failure");
  CHECK(strstr(sc_last_error(), "valid keys: depth") != NULL, "no key list: %s", sc_last_error());
  CHECK_FAILS(sc_model_create("depth=21", &m), SC_ERR_INVALID_ARGUMENT, "depth");
  CHECK_FAILS(sc_model_create("depth=abc", &m), SC_ERR_INVALID_ARGUMENT, "depth");
  CHECK_FAILS(sc_model_create("bn_maf=1.5", &m), SC_ERR_INVALID_ARGUMENT, "bn_maf");
  CHECK_FAILS(sc_model_create("bn_eps=nan", &m), SC_ERR_INVALID_ARGUMENT, "bn_eps");
  CHECK_FAILS(sc_model_create("variant=resnext", &m), SC_ERR_INVALID_ARGUMENT, "caffe|he-a");
  CHECK_FAILS(sc_model_create("input=3x30x30 variant=caffe", &m), SC_ERR_INVALID_ARGUMENT, "divisible by 4");
  CHECK_FAILS(sc_model_create("input=3x32", &m), SC_ERR_INVALID_ARGUMENT, "input");
  CHECK_FAILS(sc_model_create("classes=0", &m), SC_ERR_INVALID_ARGUMENT, "classes");
  CHECK_FAILS(sc_model_create("dropout=1", &m), SC_ERR_INVALID_ARGUMENT, "dropout");
  CHECK_FAILS(sc_model_create("depth=20 depth=56", &m), SC_ERR_INVALID_ARGUMENT, "twice");
  CHECK_FAILS(sc_model_create("depth", &m), SC_ERR_INVALID_ARGUMENT, "key=value");
  CHECK_FAILS(sc_model_create("depth=20", NULL), SC_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK(m == NULL, "out handle not cleared on failure");

  CHECK_OK(sc_model_create(NULL, &m));
  const char *spec = sc_model_spec(m);
  CHECK(spec && strcmp(spec, "depth=20 variant=caffe input=3x32x32 classes=10 seed=1 bn_maf=0.95 "
                              "bn_eps=1e-05 bn_stats=caffe bn_eval=global dropout=0") == 0,
        "default spec: %s", spec ? spec : "(null)");
  sc_model_destroy(m);
}

static void model_calls(sc_model *m) {
  float x[N * SAMPLE], logits[N * CLASSES];
  for (int i = 0; i < N * SAMPLE; i++) x[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
  CHECK_FAILS(sc_model_forward(NULL, x, N, logits, N * CLASSES), SC_ERR_INVALID_ARGUMENT, "m is NULL");
  CHECK_FAILS(sc_model_forward(m, NULL, N, logits, N * CLASSES), SC_ERR_INVALID_ARGUMENT, "x is NULL");
  CHECK_FAILS(sc_model_forward(m, x, N, NULL, N * CLASSES), SC_ERR_INVALID_ARGUMENT, "logits is NULL");
  CHECK_FAILS(sc_model_forward(m, x, 0, logits, 0), SC_ERR_INVALID_ARGUMENT, "n = 0");
  CHECK_FAILS(sc_model_forward(m, x, N, logits, N * CLASSES - 1), SC_ERR_SHAPE, "len is 11");
  CHECK_OK(sc_model_forward(m, x, N, logits, N * CLASSES));
  CHECK(sc_model_spec(NULL) == NULL, "spec of NULL");

  int64_t count = 0;
  CHECK_OK(sc_model_param_count(m, &count));
  CHECK(count == 5 + 3 * 10 + 2, "he-a depth 8 has %lld named tensors", (long long)count);
  CHECK_FAILS(sc_model_param_count(m, NULL), SC_ERR_INVALID_ARGUMENT, "count is NULL");
  CHECK_FAILS(sc_model_param_info(m, count, NULL, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_FAILS(sc_model_param_info(m, -1, NULL, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "out of range");
  const char *name = NULL;
  int32_t rank = 0;
  int64_t shape[4] = {0};
  CHECK_OK(sc_model_param_info(m, 0, &name, &rank, shape));
  CHECK(name && strcmp(name, "conv1.weight") == 0 && rank == 4 && shape[0] == 16 && shape[1] == 1 &&
        shape[2] == 3 && shape[3] == 3, "first tensor %s rank %d", name ? name : "(null)", rank);
  CHECK_OK(sc_model_param_info(m, count - 1, &name, &rank, shape));
  CHECK(strcmp(name, "fc.bias") == 0 && rank == 1 && shape[0] == CLASSES && shape[1] == 1, "last tensor %s", name);

  float bias[CLASSES] = {0.5f, -1, 2}, back[CLASSES];
  CHECK_FAILS(sc_model_param_get(m, "fc.bias", back, CLASSES + 1), SC_ERR_SHAPE, "'fc.bias' has 3 floats, len is 4");
  CHECK_FAILS(sc_model_param_set(m, "fc.bias", bias, 2), SC_ERR_SHAPE, "len is 2");
  CHECK_FAILS(sc_model_param_get(m, "fc.bais", back, CLASSES), SC_ERR_INVALID_ARGUMENT, "no parameter named 'fc.bais'");
  CHECK_FAILS(sc_model_param_get(m, NULL, back, CLASSES), SC_ERR_INVALID_ARGUMENT, "name is NULL");
  CHECK_FAILS(sc_model_param_get(m, "fc.bias", NULL, CLASSES), SC_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK_OK(sc_model_param_set(m, "fc.bias", bias, CLASSES));
  CHECK_OK(sc_model_param_get(m, "fc.bias", back, CLASSES));
  CHECK(memcmp(bias, back, sizeof bias) == 0, "set/get round trip");
  float bad[CLASSES] = {1, NAN, 2};
  CHECK_FAILS(sc_model_param_set(m, "fc.bias", bad, CLASSES), SC_ERR_INVALID_ARGUMENT, "in[1] = nan");
  CHECK_OK(sc_model_param_get(m, "fc.bias", back, CLASSES));
  CHECK(memcmp(bias, back, sizeof bias) == 0, "a rejected set changed the tensor");
  float variance[16];
  for (int i = 0; i < 16; i++) variance[i] = i == 3 ? -1.0f : 1.0f;
  CHECK_FAILS(sc_model_param_set(m, "bn1.running_var", variance, 16), SC_ERR_INVALID_ARGUMENT, "negative variance");
}

static void trainer_calls(sc_model *m) {
  float x[N * SAMPLE], before[CLASSES], after[CLASSES];
  int32_t labels[N] = {0, 1, 2, 1};
  for (int i = 0; i < N * SAMPLE; i++) x[i] = (float)((i * 13) % 11) / 11.0f;
  sc_trainer *t = (sc_trainer *)0x1;
  CHECK_FAILS(sc_trainer_create(NULL, "", &t), SC_ERR_INVALID_ARGUMENT, "m is NULL");
  CHECK(t == NULL, "out handle not cleared");
  CHECK_FAILS(sc_trainer_create(m, "lr=nan", &t), SC_ERR_INVALID_ARGUMENT, "lr=nan");
  CHECK_FAILS(sc_trainer_create(m, "lr=-1", &t), SC_ERR_INVALID_ARGUMENT, "lr=-1");
  CHECK_FAILS(sc_trainer_create(m, "momentum=1.5", &t), SC_ERR_INVALID_ARGUMENT, "momentum");
  CHECK_FAILS(sc_trainer_create(m, "learning_rate=0.1", &t), SC_ERR_INVALID_ARGUMENT, "unknown key 'learning_rate'");
  CHECK_FAILS(sc_trainer_create((sc_model *)x, "", &t), SC_ERR_INVALID_ARGUMENT, "not a live sc_model");
  CHECK_FAILS(sc_trainer_create(m, "optimizer=rmsprop", &t), SC_ERR_INVALID_ARGUMENT, "optimizer=rmsprop");
  CHECK_FAILS(sc_trainer_create(m, "optimizer=adam beta2=1", &t), SC_ERR_INVALID_ARGUMENT, "beta2=1");
  CHECK_FAILS(sc_trainer_create(m, "clip=-1", &t), SC_ERR_INVALID_ARGUMENT, "clip=-1");

  CHECK_OK(sc_trainer_create(m, "lr=0.05", &t));
  CHECK(sc_trainer_spec(t) && strcmp(sc_trainer_spec(t), "lr=0.05 momentum=0.9 optimizer=sgd form=caffe weight_decay=0.0001 rho=0.95 "
                                   "eps=1e-08 beta2=0.999 clip=0 eval_batch=250 precise_bn=0") == 0,
        "trainer spec %s", sc_trainer_spec(t));
  CHECK_FAILS(sc_trainer_step(NULL, x, labels, N, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "t is NULL");
  CHECK_FAILS(sc_trainer_step(t, NULL, labels, N, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "x is NULL");
  CHECK_FAILS(sc_trainer_step(t, x, NULL, N, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "labels is NULL");
  CHECK_FAILS(sc_trainer_step(t, x, labels, 0, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "n = 0");
  CHECK_FAILS(sc_trainer_step(t, x, labels, 1 << 20, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_FAILS(sc_trainer_iteration(t, NULL), SC_ERR_INVALID_ARGUMENT, "iteration is NULL");

  CHECK_OK(sc_model_param_get(m, "fc.bias", before, CLASSES));
  int32_t wrong[N] = {0, 1, 3, 1};
  CHECK_FAILS(sc_trainer_step(t, x, wrong, N, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "labels[2] = 3 is out of range");
  wrong[2] = -1;
  CHECK_FAILS(sc_trainer_evaluate(t, x, wrong, N, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "labels[2] = -1");

  /* A non-finite input gives a non-finite loss: the step is refused and nothing moves. */
  float running[16], running_after[16];
  CHECK_OK(sc_model_param_get(m, "bn1.running_mean", running, 16));
  float poisoned[N * SAMPLE];
  memcpy(poisoned, x, sizeof poisoned);
  poisoned[5] = INFINITY;
  CHECK_FAILS(sc_trainer_step(t, poisoned, labels, N, NULL, NULL), SC_ERR_NONFINITE, "weights unchanged");
  CHECK_OK(sc_model_param_get(m, "fc.bias", after, CLASSES));
  CHECK(memcmp(before, after, sizeof before) == 0, "a refused step changed fc.bias");
  CHECK_OK(sc_model_param_get(m, "bn1.running_mean", running_after, 16));
  CHECK(memcmp(running, running_after, sizeof running) == 0, "a refused step changed BN statistics");
  int64_t iteration = -1;
  CHECK_OK(sc_trainer_iteration(t, &iteration));
  CHECK(iteration == 0, "a refused step counted: iteration %lld", (long long)iteration);

  /* Finite but huge inputs: the stem's activations overflow float in BN's variance while the
     loss stays finite (BN then outputs its bias); the step is refused before the running
     statistics would become infinite. */
  float huge[N * SAMPLE];
  for (int i = 0; i < N * SAMPLE; i++) huge[i] = x[i] * 1e25f;
  float running_var[16], running_var_after[16];
  CHECK_OK(sc_model_param_get(m, "bn1.running_var", running_var, 16));
  CHECK_FAILS(sc_trainer_step(t, huge, labels, N, NULL, NULL), SC_ERR_NONFINITE, "batch statistics are not finite");
  CHECK_OK(sc_model_param_get(m, "bn1.running_var", running_var_after, 16));
  CHECK(memcmp(running_var, running_var_after, sizeof running_var) == 0, "an overflowing step changed BN statistics");

  /* A huge learning rate drives the weights to overflow; the step that would is refused. */
  sc_model *doomed = NULL;
  sc_trainer *wild = NULL;
  CHECK_OK(sc_model_create(SPEC, &doomed));
  CHECK_OK(sc_trainer_create(doomed, "lr=1e6 momentum=0", &wild));
  sc_status rc = SC_OK;
  for (int i = 0; i < 20 && rc == SC_OK; i++) rc = sc_trainer_step(wild, x, labels, N, NULL, NULL);
  CHECK(rc == SC_ERR_NONFINITE, "lr=1e6 never gave SC_ERR_NONFINITE (%s)", sc_status_name(rc));
  sc_trainer_destroy(wild);
  sc_model_destroy(doomed);

  CHECK_OK(sc_trainer_step(t, x, labels, N, NULL, NULL));
  CHECK_OK(sc_trainer_iteration(t, &iteration));
  CHECK(iteration == 1, "iteration %lld", (long long)iteration);

  /* Destroyed handles are recognised, and destroy tolerates NULL and repeats. */
  sc_trainer_destroy(t);
  CHECK_FAILS(sc_trainer_step(t, x, labels, N, NULL, NULL), SC_ERR_INVALID_ARGUMENT, "not a live sc_trainer");
  sc_trainer_destroy(t);
  sc_trainer_destroy(NULL);
  sc_model_destroy(NULL);
  sc_model_destroy((sc_model *)x);
}

static void model_destroyed_before_trainer(void) {
  sc_model *m = NULL;
  sc_trainer *t = NULL;
  float x[2 * SAMPLE] = {0};
  int32_t labels[2] = {0, 1};
  CHECK_OK(sc_model_create(SPEC, &m));
  CHECK_OK(sc_trainer_create(m, NULL, &t));
  sc_model_destroy(m);
  CHECK_FAILS(sc_trainer_step(t, x, labels, 2, NULL, NULL), SC_ERR_STATE, "model was destroyed");
  CHECK_FAILS(sc_model_forward(m, x, 2, x, 6), SC_ERR_INVALID_ARGUMENT, "not a live sc_model");
  CHECK_FAILS(sc_trainer_record(t, "/tmp/superconv-never-written.h5", NULL), SC_ERR_STATE, "model was destroyed");
  sc_trainer_destroy(t);
}

/* Values at the ends of their types: a status, never a trap of overflowing arithmetic. */
static void values_at_the_limits(void) {
  float x[4 * 3 * 8 * 8] = {0}, lr[5], momentum[5];
  int32_t labels[4] = {0, 1, INT32_MAX, 3};
  sc_dataset *d = NULL;
  CHECK_FAILS(sc_dataset_from_memory(x, labels, 4, "3x8x8", &d), SC_ERR_INVALID_ARGUMENT,
              "labels[2] = 2147483647 is outside [0, 2147483647)");
  labels[2] = INT32_MAX - 1;
  CHECK_OK(sc_dataset_from_memory(x, labels, 4, "3x8x8", &d));
  int32_t classes = 0;
  CHECK_OK(sc_dataset_info(d, NULL, NULL, NULL, NULL, &classes));
  CHECK(classes == INT32_MAX, "classes %d", classes);
  CHECK_FAILS(sc_dataset_get(d, INT64_MAX, 1, x, 3 * 8 * 8, NULL), SC_ERR_INVALID_ARGUMENT, "outside the 4");
  CHECK_FAILS(sc_dataset_get(d, 1, INT64_MAX, NULL, 0, NULL), SC_ERR_INVALID_ARGUMENT, "outside the 4");
  CHECK_FAILS(sc_dataset_get(d, 4, INT64_MAX, NULL, 0, NULL), SC_ERR_INVALID_ARGUMENT, "outside the 4");
  CHECK_OK(sc_dataset_get(d, 4, 0, NULL, 0, NULL));
  sc_dataset_destroy(d);

  sc_schedule *s = NULL;
  CHECK_OK(sc_schedule_create("policy=onecycle base_lr=0.1 max_lr=1 stepsize=50", &s));
  CHECK_FAILS(sc_schedule_table(s, 5, INT64_MAX - 2, lr, momentum, INT64_MAX - 2), SC_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_FAILS(sc_schedule_table(s, INT32_MAX, 2, lr, momentum, 2), SC_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_OK(sc_schedule_table(s, INT32_MAX, 1, lr, momentum, 1));
  sc_schedule_destroy(s);
}

int main(void) {
  library();
  model_specs();
  sc_model *m = NULL;
  CHECK_OK(sc_model_create(SPEC, &m));
  model_calls(m);
  trainer_calls(m);
  sc_model_destroy(m);
  model_destroyed_before_trainer();
  values_at_the_limits();
  return check_summary("test_errors");
}
