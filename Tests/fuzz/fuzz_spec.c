/* The spec parser behind every create function: the input is the spec, its first byte picks
   the object. */
#include "fuzz.h"

static sc_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  if (sc_model_create("depth=8 input=1x8x8 classes=3", &model) != SC_OK) abort();
  FUZZ_KEEP(model, sc_model_destroy);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 4096) return 0;
  char *spec = malloc(size);
  memcpy(spec, data + 1, size - 1);
  spec[size - 1] = 0;
  switch (data[0] % 7) {
  case 0: { sc_trainer *t = NULL; if (sc_trainer_create(model, spec, &t) == SC_OK) sc_trainer_destroy(t); break; }
  case 1: { sc_schedule *s = NULL; if (sc_schedule_create(spec, &s) == SC_OK) sc_schedule_destroy(s); break; }
  case 2: {
    /* A float data set of its own per input (see fuzz_normalization.c on LeakSanitizer). */
    float x[4 * 64] = {0};
    int32_t y[4] = {0, 1, 2, 0};
    sc_dataset *dataset = NULL;
    sc_loader *l = NULL;
    if (sc_dataset_from_memory(x, y, 4, "1x8x8", &dataset) != SC_OK) abort();
    if (sc_loader_create(dataset, spec, &l) == SC_OK) sc_loader_destroy(l);
    sc_dataset_destroy(dataset);
    break;
  }
  case 3: { sc_lr_estimator *e = NULL; if (sc_lr_estimator_create(spec, &e) == SC_OK) sc_lr_estimator_destroy(e); break; }
  case 4: { sc_optimizer *o = NULL; if (sc_optimizer_create(spec, 16, &o) == SC_OK) sc_optimizer_destroy(o); break; }
  case 5: { sc_range_test *r = NULL; if (sc_range_test_create(spec, &r) == SC_OK) sc_range_test_destroy(r); break; }
  default: {
    /* Models only of a bounded size: a valid spec for a huge network is a legitimate request. */
    sc_model *m = NULL;
    if (!strstr(spec, "depth=") && !strstr(spec, "input=") && sc_model_create(spec, &m) == SC_OK) sc_model_destroy(m);
    break;
  }
  }
  free(spec);
  return 0;
}
