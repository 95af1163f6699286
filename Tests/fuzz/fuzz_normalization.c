/* sc_loader_load_normalization on mutated checkpoints. The data set and loader are made per
   input: LeakSanitizer, which checks after inputs, cannot see the pixel array a live float data
   set holds (a Swift multi-payload enum keeps tag bits in the pointer) and would call it leaked. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  float x[4 * 64] = {0};
  int32_t y[4] = {0, 1, 2, 0};
  sc_dataset *dataset = NULL;
  sc_loader *loader = NULL;
  if (sc_dataset_from_memory(x, y, 4, "1x8x8", &dataset) != SC_OK ||
      sc_loader_create(dataset, "batch=2 normalize=channel", &loader) != SC_OK) abort();
  uint8_t *bytes = fuzz_resealed(data, size);
  sc_loader_load_normalization(loader, fuzz_file("normalization.h5", bytes, size));
  free(bytes);
  sc_loader_destroy(loader);
  sc_dataset_destroy(dataset);
  return 0;
}
