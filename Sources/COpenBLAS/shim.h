#ifndef SUPERCONV_COPENBLAS_SHIM_H
#define SUPERCONV_COPENBLAS_SHIM_H
/* The pthread build of OpenBLAS: cblas_sgemm plus openblas_set_num_threads. */
#include <cblas.h>
#endif
