/* The HDF5 data set reader on mutated files, in both layouts. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("data.h5", data, size);
  char spec[400];
  snprintf(spec, sizeof spec, "format=hdf5 path=%s images=images labels=labels layout=%s", path,
           size && (data[size - 1] & 1) ? "nhwc" : "nchw");
  sc_dataset *d = NULL;
  if (sc_dataset_open(spec, &d) == SC_OK) sc_dataset_destroy(d);
  return 0;
}
