/* The CIFAR-10 and CIFAR-100 readers on a mutated batch file (the first byte picks the format). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int hundred = data[0] & 1, coarse = data[0] & 2;
  fuzz_file(hundred ? "test.bin" : "test_batch.bin", data + 1, size - 1);
  char spec[400];
  snprintf(spec, sizeof spec, "format=%s dir=%s split=test%s", hundred ? "cifar100" : "cifar10", fuzz_dir(),
           hundred ? (coarse ? " label=coarse" : " label=fine") : "");
  sc_dataset *d = NULL;
  if (sc_dataset_open(spec, &d) == SC_OK) sc_dataset_destroy(d);
  return 0;
}
