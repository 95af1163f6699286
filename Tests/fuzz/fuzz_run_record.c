/* sc_trainer_record with append=1 (which reads the file's rows) on mutated run files. */
#include "fuzz.h"

static sc_trainer *trainer;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  static sc_model *model;
  if (sc_model_create("depth=8 input=1x8x8 classes=3 seed=1", &model) != SC_OK ||
      sc_trainer_create(model, NULL, &trainer) != SC_OK) abort();
  FUZZ_KEEP(model, sc_model_destroy);  /* destroyed after the trainer */
  FUZZ_KEEP(trainer, sc_trainer_destroy);
  float x[2 * 64] = {0};
  int32_t y[2] = {0, 1};
  for (int i = 0; i < 5; i++) sc_trainer_step(trainer, x, y, 2, NULL, NULL);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *bytes = fuzz_resealed(data, size);
  const char *path = fuzz_file("run.h5", bytes, size);
  if (sc_trainer_record(trainer, path, "append=1 flush_every=1000") == SC_OK) sc_trainer_record(trainer, NULL, NULL);
  free(bytes);
  return 0;
}
