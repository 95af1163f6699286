/* Specification: a training step in steady state allocates no heap memory. The program
   interposes the C allocator (the library's Swift runtime, Dispatch and OpenBLAS all allocate
   through it) and counts calls while steps run. */
#define _GNU_SOURCE
#include <stdlib.h>
#include "check.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile int counting;
static volatile long allocations;

void *malloc(size_t n) { if (counting) allocations++; return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { if (counting) allocations++; return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { if (counting) allocations++; return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { if (counting) allocations++; return __libc_memalign(a, n); }
void *memalign(size_t a, size_t n) { if (counting) allocations++; return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
  if (counting) allocations++;
  *out = __libc_memalign(a, n);
  return *out ? 0 : 12;
}

static void steady_state(const char *spec, int batch, int threads) {
  enum { SAMPLE = 3 * 32 * 32 };
  CHECK_OK(sc_set_num_threads(threads));
  sc_model *m = NULL;
  sc_trainer *t = NULL;
  CHECK_OK(sc_model_create(spec, &m));
  CHECK_OK(sc_trainer_create(m, "lr=0.05", &t));
  float *x = __libc_malloc(sizeof(float) * batch * SAMPLE);
  int32_t *labels = __libc_malloc(sizeof(int32_t) * batch);
  for (int i = 0; i < batch * SAMPLE; i++) x[i] = (float)(i % 97) / 97.0f - 0.5f;
  for (int i = 0; i < batch; i++) labels[i] = i % 10;
  for (int i = 0; i < 3; i++) CHECK_OK(sc_trainer_step(t, x, labels, batch, NULL, NULL));
  allocations = 0;
  counting = 1;
  for (int i = 0; i < 3; i++) sc_trainer_step(t, x, labels, batch, NULL, NULL);
  counting = 0;
  printf("%s, batch %d, %d thread(s): %ld allocations in 3 steady-state steps\n", spec, batch, threads, allocations);
  CHECK(allocations == 0, "%ld allocations in steady-state steps", allocations);
  sc_trainer_destroy(t);
  sc_model_destroy(m);
  free(x);
  free(labels);
}

int main(void) {
  steady_state("depth=8 variant=caffe dropout=0.1", 16, 1);
  steady_state("depth=8 variant=he-a", 16, 2);
  return check_summary("test_allocations");
}
