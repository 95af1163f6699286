#define _POSIX_C_SOURCE 199309L
/* The data-parallel step's two costs on this machine, run under mpirun -np 2 (1 thread a rank):
   the MPI_Allreduce of a trainer's flat gradient buffer, and a rank's compute of one step
   (sc_trainer_compute_gradients + sc_trainer_apply_gradients on BATCH samples of 3x32x32), for
   caffe ResNets of the given depths.
   usage: mpirun -np 2 allreduce_time BATCH REPEATS DEPTH...
   prints per depth: depth parameters megabytes allreduce_ms (median, min, max) compute_ms (median,
   min, max), from rank 0; every timing is one that all ranks start together (MPI_Barrier). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <superconv.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median, lowest and highest of n timings in milliseconds (sorts them). */
static void summary(double *ms, int n, double out[3]) {
  qsort(ms, n, sizeof(double), by_value);
  out[0] = ms[n / 2], out[1] = ms[0], out[2] = ms[n - 1];
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (argc < 4) {
    if (rank == 0) fprintf(stderr, "usage: mpirun -np 2 %s BATCH REPEATS DEPTH...\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  int batch = atoi(argv[1]), repeats = atoi(argv[2]);
  sc_set_num_threads(1);
  float *x = malloc(sizeof(float) * batch * 3 * 32 * 32);
  int32_t *labels = malloc(sizeof(int32_t) * batch);
  for (int i = 0; i < batch * 3 * 32 * 32; i++) x[i] = (float)((i * 7919) % 255) / 255.0f - 0.5f;
  for (int i = 0; i < batch; i++) labels[i] = i % 10;
  double *ms = malloc(sizeof(double) * repeats);
  if (rank == 0) printf("depth parameters MB allreduce_ms(median,min,max) compute_ms(median,min,max)\n");
  for (int a = 3; a < argc; a++) {
    char spec[128];
    snprintf(spec, sizeof spec, "depth=%s variant=caffe input=3x32x32 classes=10 seed=1", argv[a]);
    sc_model *m = NULL;
    sc_trainer *t = NULL;
    float *g = NULL;
    int64_t len = 0;
    if (sc_model_create(spec, &m) != SC_OK || sc_trainer_create(m, "lr=0.01", &t) != SC_OK ||
        sc_trainer_gradients(t, &g, &len) != SC_OK) {
      fprintf(stderr, "rank %d: %s\n", rank, sc_last_error());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double reduce[3], compute[3];
    for (int r = -1; r < repeats; r++) {  /* r = -1 warms up */
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = now();
      sc_trainer_compute_gradients(t, x, labels, batch, NULL, NULL);
      sc_trainer_apply_gradients(t);
      if (r >= 0) ms[r] = 1e3 * (now() - t0);
    }
    summary(ms, repeats, compute);
    for (int r = -1; r < repeats; r++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = now();
      MPI_Allreduce(MPI_IN_PLACE, g, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      if (r >= 0) ms[r] = 1e3 * (now() - t0);
    }
    summary(ms, repeats, reduce);
    if (rank == 0)
      printf("%s %lld %.2f %.3f %.3f %.3f %.1f %.1f %.1f\n", argv[a], (long long)len, 4.0 * len / 1e6, reduce[0],
             reduce[1], reduce[2], compute[0], compute[1], compute[2]), fflush(stdout);
    sc_trainer_destroy(t);
    sc_model_destroy(m);
  }
  free(ms);
  free(x);
  free(labels);
  MPI_Finalize();
  return 0;
}
