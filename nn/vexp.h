/*
 * vexp.h: vectorisable float helpers shared by the softmax-like kernels of
 * nn/ (attention.c, loss.c): an exp for x <= 0 and a NaN-propagating row
 * maximum.  They exist because with the project's flags (no -ffast-math)
 * libm's expf is one call per element and float compares do not vectorise
 * (-ftrapping-math), while exps and maxima are the bulk of a softmax.
 * Header-only (static inline / static): include it from .c files of nn/.
 */
#ifndef NN_VEXP_H
#define NN_VEXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) for float x <= 0 (softmax inputs after the row maximum is taken
 * off), in a form the compiler vectorises: libm's expf is a call per
 * element, and the softmax's exps cost more than the attention's matrix
 * products.  Range reduction x = n ln2 + r with |r| <= ln2/2 (ln2 split in
 * two so n ln2 is exact), a degree-6 polynomial for e^r (the classic
 * minimax coefficients; relative error under 1e-7 over the range), and 2^n
 * built in the exponent bits.  x is clamped at -87 (e^-87 ~ 1.6e-38, a
 * harmless weight instead of 0): on the bits of -x, since float compares do
 * not vectorise without -fno-trapping-math while integer ones do (for
 * non-negative floats, the bit patterns order like the values). */
static inline float vexpf_neg(float x) {
    float y = -x;
    int32_t b;
    memcpy(&b, &y, sizeof b);
    b = b < 0x42AE0000 ? b : 0x42AE0000; /* bits of 87.0f */
    memcpy(&y, &b, sizeof b);
    x = -y;
    /* round x / ln2 to the nearest integer by adding and removing 1.5 * 2^23 */
    float fn = x * 1.44269504088896341f + 12582912.0f;
    fn -= 12582912.0f;
    float r = x - fn * 0.693359375f - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)fn + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Row maxima, NaN if the row holds one (as PyTorch's softmax).  The float
 * version works on "sortable" integer keys (negative floats get their
 * magnitude bits flipped, so integer order is float order): float compares
 * do not vectorise without -fno-trapping-math, integer ones do. */
__attribute__((noinline, unused)) static float row_max_f32(const float *restrict p, int64_t n) {
    int32_t mk[8], nan[8] = {0};
    for (int l = 0; l < 8; l++) mk[l] = INT32_MIN;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) {
            int32_t b;
            memcpy(&b, &p[j + l], sizeof b);
            int32_t key = b ^ ((b >> 31) & 0x7fffffff);
            mk[l] = key > mk[l] ? key : mk[l];
            nan[l] |= (b & 0x7fffffff) > 0x7f800000;
        }
    for (; j < n; j++) {
        int32_t b;
        memcpy(&b, &p[j], sizeof b);
        int32_t key = b ^ ((b >> 31) & 0x7fffffff);
        mk[0] = key > mk[0] ? key : mk[0];
        nan[0] |= (b & 0x7fffffff) > 0x7f800000;
    }
    for (int l = 1; l < 8; l++) {
        mk[0] = mk[l] > mk[0] ? mk[l] : mk[0];
        nan[0] |= nan[l];
    }
    if (nan[0]) return NAN;
    int32_t b = mk[0] ^ ((mk[0] >> 31) & 0x7fffffff);
    float m;
    memcpy(&m, &b, sizeof m);
    return m;
}

/* sum of p[0..n) in double with 8 lanes (one accumulator would be a chain
 * of dependent adds, which the compiler may not reorder) */
__attribute__((unused)) static double vsum_f32(const float *restrict p, int64_t n) {
    double a[8] = {0}, s = 0;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) a[l] += p[j + l];
    for (; j < n; j++) s += p[j];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + s;
}

/* sum of exp(p - m) over p[0..n), m >= every p (the row maximum) */
__attribute__((noinline, unused)) static double vexpsum_f32(const float *restrict p, int64_t n, float m) {
    double a[8] = {0}, s = 0;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) a[l] += vexpf_neg(p[j + l] - m);
    for (; j < n; j++) s += vexpf_neg(p[j] - m);
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + s;
}

#endif
