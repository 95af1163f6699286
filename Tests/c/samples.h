/* Learnable samples for the C tests: n samples of `sample` floats, label i % classes, uniform
   noise in [-0.5, 0.5) from a seeded LCG plus 0.3 at the positions j with j % classes equal to
   the label, so that a small network learns them in a few steps. */
#ifndef SUPERCONV_TEST_SAMPLES_H
#define SUPERCONV_TEST_SAMPLES_H
#include <stdint.h>

static void make_samples(float *x, int32_t *y, int n, int sample, int classes, uint64_t seed) {
  for (int i = 0; i < n; i++) {
    y[i] = i % classes;
    for (int j = 0; j < sample; j++) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      x[i * sample + j] = (float)((seed >> 40) * (1.0 / 16777216.0)) - 0.5f + 0.3f * (float)(y[i] == j % classes);
    }
  }
}
#endif
