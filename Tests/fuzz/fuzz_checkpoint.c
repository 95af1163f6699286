/* sc_checkpoint_load and sc_model_create_from_checkpoint on mutated checkpoints (the seed's
   trainer: depth=8 input=1x8x8 classes=3, SGD). */
#include "fuzz.h"

static sc_trainer *trainer;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  static sc_model *model;
  if (sc_model_create("depth=8 variant=he-a input=1x8x8 classes=3 seed=1", &model) != SC_OK ||
      sc_trainer_create(model, "optimizer=sgd momentum=0", &trainer) != SC_OK) abort();
  FUZZ_KEEP(model, sc_model_destroy);  /* destroyed after the trainer */
  FUZZ_KEEP(trainer, sc_trainer_destroy);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *bytes = fuzz_resealed(data, size);
  const char *path = fuzz_file("checkpoint.h5", bytes, size);
  sc_checkpoint_load(trainer, path);
  sc_model *model = NULL;
  if (sc_model_create_from_checkpoint(path, &model) == SC_OK) sc_model_destroy(model);
  free(bytes);
  return 0;
}
