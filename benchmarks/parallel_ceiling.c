/* How much faster two threads are than one on this machine for work that needs nothing from
   memory and nothing from each other: every thread runs the same chains of multiply-adds in
   registers. A library's 1 -> 2 thread scaling cannot beat this; on a shared machine it is below
   2 because other tenants take turns on the cores. Each round times one thread, then two, and
   its scaling is 2 x (1-thread time) / (2-thread wall time); prints the median, lowest and
   highest over the rounds.
     parallel_ceiling [ROUNDS] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float lanes __attribute__((vector_size(32)));
enum { CHAINS = 10, ITERATIONS = 20000000, MAX_ROUNDS = 1000 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Ten independent chains cover the multiply-add latency on current x86 cores. */
__attribute__((target("avx2,fma"))) static float chains_avx2(void) {
  lanes a[CHAINS], m = {0}, b = {0};
  for (int i = 0; i < 8; i++) { m[i] = 0.9999f; b[i] = 1e-4f; }
  for (int c = 0; c < CHAINS; c++) a[c] = b * (float)c;
  for (long k = 0; k < ITERATIONS; k++)
    for (int c = 0; c < CHAINS; c++) a[c] = a[c] * m + b;
  float s = 0;
  for (int c = 0; c < CHAINS; c++) s += a[c][0];
  return s;
}

static float chains_portable(void) {
  float a[CHAINS * 8];
  for (int i = 0; i < CHAINS * 8; i++) a[i] = 1e-4f * i;
  for (long k = 0; k < ITERATIONS; k++)
    for (int i = 0; i < CHAINS * 8; i++) a[i] = a[i] * 0.9999f + 1e-4f;
  return a[0];
}

static volatile float sink;

static void *work(void *unused) {
  (void)unused;
  sink = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? chains_avx2() : chains_portable();
  return NULL;
}

static int ascending(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 5;
  if (rounds < 1 || rounds > MAX_ROUNDS) {
    fprintf(stderr, "usage: %s [ROUNDS in 1...%d]\n", argv[0], MAX_ROUNDS);
    return 2;
  }
  double scaling[MAX_ROUNDS];
  for (int r = 0; r < rounds; r++) {
    double start = now();
    work(NULL);
    double one = now() - start;
    pthread_t other;
    start = now();
    if (pthread_create(&other, NULL, work, NULL) != 0) {
      perror("pthread_create");
      return 1;
    }
    work(NULL);
    pthread_join(other, NULL);
    scaling[r] = 2 * one / (now() - start);
  }
  qsort(scaling, rounds, sizeof scaling[0], ascending);
  printf("%.3f %.3f %.3f\n", scaling[rounds / 2], scaling[0], scaling[rounds - 1]);
  return 0;
}
