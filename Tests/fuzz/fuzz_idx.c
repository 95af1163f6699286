/* The IDX reader (plain or gzip) on a mutated pair of files: the first byte says where the input
   is cut into the images file and the labels file. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t cut = 1 + (size - 1) * data[0] / 255;
  char spec[700];
  const char *images = fuzz_file("images.idx", data + 1, cut - 1);
  snprintf(spec, sizeof spec, "format=idx images=%s labels=%s", images, fuzz_file("labels.idx", data + cut, size - cut));
  sc_dataset *d = NULL;
  if (sc_dataset_open(spec, &d) == SC_OK) sc_dataset_destroy(d);
  return 0;
}
