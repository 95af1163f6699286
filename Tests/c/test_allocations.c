/* Specification: a training step in steady state allocates no heap memory, whatever the
   optimizer and schedule, with the Eq. 8 estimator attached, and with an all-reduce hook set. The program
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

/* The sums of two ranks that hold equal gradients. */
static sc_status twice(float *data, int64_t len, void *user) {
  (void)user;
  for (int64_t i = 0; i < len; i++) data[i] *= 2;
  return SC_OK;
}

static void steady_state(const char *spec, const char *trainer_spec, const char *schedule_spec, int batch, int threads,
                         sc_allreduce_fn allreduce) {
  enum { SAMPLE = 3 * 32 * 32 };
  CHECK_OK(sc_set_num_threads(threads));
  sc_model *m = NULL;
  sc_trainer *t = NULL;
  CHECK_OK(sc_model_create(spec, &m));
  CHECK_OK(sc_trainer_create(m, trainer_spec, &t));
  if (schedule_spec) {
    sc_schedule *s = NULL;
    CHECK_OK(sc_schedule_create(schedule_spec, &s));
    CHECK_OK(sc_trainer_set_schedule(t, s));
    sc_schedule_destroy(s);
    CHECK_OK(sc_trainer_attach_lr_estimator(t, "inc=1"));
  }
  if (allreduce) CHECK_OK(sc_trainer_set_allreduce(t, allreduce, NULL, 2));
  float *x = __libc_malloc(sizeof(float) * batch * SAMPLE);
  int32_t *labels = __libc_malloc(sizeof(int32_t) * batch);
  for (int i = 0; i < batch * SAMPLE; i++) x[i] = (float)(i % 97) / 97.0f - 0.5f;
  for (int i = 0; i < batch; i++) labels[i] = i % 10;
  for (int i = 0; i < 3; i++) CHECK_OK(sc_trainer_step(t, x, labels, batch, NULL, NULL));
  allocations = 0;
  counting = 1;
  for (int i = 0; i < 3; i++) sc_trainer_step(t, x, labels, batch, NULL, NULL);
  counting = 0;
  printf("%s, %s, %s, batch %d, %d thread(s)%s: %ld allocations in 3 steady-state steps\n", spec, trainer_spec,
         schedule_spec ? schedule_spec : "no schedule", batch, threads, allreduce ? ", all-reduce hook" : "", allocations);
  CHECK(allocations == 0, "%ld allocations in steady-state steps", allocations);
  sc_trainer_destroy(t);
  sc_model_destroy(m);
  free(x);
  free(labels);
}

int main(void) {
  steady_state("depth=8 variant=caffe dropout=0.1", "lr=0.05", NULL, 16, 1, NULL);
  steady_state("depth=8 variant=he-a", "lr=0.05", NULL, 16, 2, NULL);
  steady_state("depth=8 variant=caffe", "optimizer=adam clip=1", "policy=onecycle_cosine three_phase=1 warmup=10", 16, 2, NULL);
  steady_state("depth=8 variant=he-a", "optimizer=nesterov", "policy=multistep stepvalues=1,2,3,4", 16, 2, NULL);
  steady_state("depth=8 variant=caffe dropout=0.1", "lr=0.05", "policy=onecycle", 16, 2, twice);
  return check_summary("test_allocations");
}
