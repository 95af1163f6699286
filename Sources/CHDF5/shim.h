#ifndef SUPERCONV_CHDF5_SHIM_H
#define SUPERCONV_CHDF5_SHIM_H
#include <hdf5.h>
/* HDF5's property-list and type "constants" are macros over global ids, which Swift cannot import.
   These wrappers give them names Swift can call. */
static inline hid_t sc_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t sc_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t sc_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t sc_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline unsigned sc_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned sc_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline hid_t sc_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t sc_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t sc_h5s_all(void) { return H5S_ALL; }
static inline hid_t sc_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t sc_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t sc_h5t_c_s1(void) { return H5T_C_S1; }
/* Turns off HDF5's printing of its error stack to stderr: errors become statuses instead. */
static inline void sc_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
#endif
