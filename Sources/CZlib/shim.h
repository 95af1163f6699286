#ifndef SUPERCONV_CZLIB_SHIM_H
#define SUPERCONV_CZLIB_SHIM_H
/* gzopen/gzread read gzip-compressed and plain files alike. */
#include <zlib.h>
#endif
