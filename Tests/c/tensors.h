/* A model's named tensors as one flat array, for tests that compare or move whole models:
   the tensors whose names contain `part` (keep = 1) or do not (keep = 0), in the model's order.
   With part "running_" and keep 0 they are the trainable tensors, in the order of the trainer's
   flat gradient buffer. */
#ifndef SUPERCONV_TEST_TENSORS_H
#define SUPERCONV_TEST_TENSORS_H
#include <stdlib.h>
#include "check.h"

/* Copies the selected tensors out (to_model = 0) or in (to_model = 1); returns their length. */
static inline int64_t move_tensors(sc_model *m, const char *part, int keep, float *values, int to_model) {
  int64_t count = 0, offset = 0;
  CHECK_OK(sc_model_param_count(m, &count));
  for (int64_t i = 0; i < count; i++) {
    const char *name;
    int64_t shape[4];
    CHECK_OK(sc_model_param_info(m, i, &name, NULL, shape));
    if ((strstr(name, part) != NULL) != keep) continue;
    int64_t n = shape[0] * shape[1] * shape[2] * shape[3];
    if (values && to_model) CHECK_OK(sc_model_param_set(m, name, values + offset, n));
    if (values && !to_model) CHECK_OK(sc_model_param_get(m, name, values + offset, n));
    offset += n;
  }
  return offset;
}

/* A new array (for free) holding the selected tensors; *len gets its length. */
static inline float *tensors(sc_model *m, const char *part, int keep, int64_t *len) {
  *len = move_tensors(m, part, keep, NULL, 0);
  float *values = malloc(sizeof(float) * *len);
  move_tensors(m, part, keep, values, 0);
  return values;
}

static inline void set_tensors(sc_model *m, const char *part, int keep, const float *values) {
  move_tensors(m, part, keep, (float *)values, 1);
}
#endif
