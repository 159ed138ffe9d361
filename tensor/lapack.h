/*
 * lapack.h: prototypes of the LAPACK routines ember calls (the Fortran
 * symbols exported by the OpenBLAS library ember already links; no extra
 * dependency).  Fortran conventions: every argument by pointer, matrices in
 * COLUMN-major order with a leading dimension, `info` reports failure
 * (< 0: bad argument, > 0: numerical failure such as a singular matrix),
 * and each CHARACTER argument adds a hidden length (size_t) at the end of
 * the argument list (gfortran's ABI), passed here as 1.
 * Integers are 32-bit (Debian's OpenBLAS is built without INTERFACE64), so
 * callers check that sizes fit in an int.
 */
#ifndef TN_LAPACK_H
#define TN_LAPACK_H

#include <stddef.h>

/* LU with partial pivoting: A = P L U */
void sgetrf_(const int *m, const int *n, float *a, const int *lda, int *ipiv, int *info);
void dgetrf_(const int *m, const int *n, double *a, const int *lda, int *ipiv, int *info);
/* solve with an LU from getrf: op(A) X = B, op by trans "N" or "T" */
void sgetrs_(const char *trans, const int *n, const int *nrhs, const float *a, const int *lda,
             const int *ipiv, float *b, const int *ldb, int *info, size_t);
void dgetrs_(const char *trans, const int *n, const int *nrhs, const double *a, const int *lda,
             const int *ipiv, double *b, const int *ldb, int *info, size_t);
/* inverse from an LU of getrf, in place */
void sgetri_(const int *n, float *a, const int *lda, const int *ipiv, float *work, const int *lwork, int *info);
void dgetri_(const int *n, double *a, const int *lda, const int *ipiv, double *work, const int *lwork, int *info);
/* Cholesky: A = U^T U ("U") or L L^T ("L") */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t);
/* symmetric eigendecomposition (divide and conquer); w ascending */
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w,
             float *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);
/* SVD (divide and conquer): A = U diag(s) VT, s descending */
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s, float *u,
             const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork, int *iwork,
             int *info, size_t);
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
             const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork,
             int *info, size_t);
/* QR: Householder reflectors (geqrf), then Q formed from them (orgqr) */
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau, float *work,
             const int *lwork, int *info);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda, const float *tau,
             float *work, const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau,
             double *work, const int *lwork, int *info);

#endif
