/* kern.h - private to lib/hwexec: the int16 GEMM kernels (see kern.c). */
#ifndef NASH_HWEXEC_KERN_H
#define NASH_HWEXEC_KERN_H

#include <stdint.h>

#define HWK_NB 16 /* outputs per packed weight block */

typedef enum { HWK_SCALAR = 0, HWK_SSE2, HWK_AVX2, HWK_AVX512 } hwk_isa;

/* The best kernel this CPU runs. */
hwk_isa hwk_best(void);
const char *hwk_isa_name(hwk_isa i);
/* "scalar", "sse2", "avx2", "avx512" up to the best; -1 otherwise. */
int hwk_isa_parse(const char *s, hwk_isa *out);

/* Pack weights w (mw x mh, row-major, values in int16) into wp, which
 * holds mhp * kp int16 (mhp = mh rounded up to HWK_NB, kp = mw rounded up
 * to even), 64-byte aligned; the padding is zero. */
void hwk_pack(const int64_t *w, int64_t mw, int64_t mh, int64_t kp, int16_t *wp);

/* acc[r][h] = sum_k x[r][k] * w[k][h] for r < p, h < mhp; x rows of kp
 * int16 (zero-padded) at stride ldx, acc rows at stride ldacc. */
void hwk_gemm(hwk_isa isa, const int16_t *x, int64_t p, int64_t ldx, const int16_t *wp, int64_t kp, int64_t mhp,
              int32_t *acc, int64_t ldacc);

/* The u8 x s8 path (vpdpbusd): weights packed with the reduction in
 * groups of 4 (kp a multiple of 4), x rows of kp uint8. Only where
 * hwk_has_u8: AVX-512 VNNI, and the scalar kernel (for tests); AVX2's
 * pmaddubsw would saturate, so other CPUs keep the int16 path. */
int hwk_has_u8(hwk_isa isa);
void hwk_pack8(const int64_t *w, int64_t mw, int64_t mh, int64_t kp, int8_t *wp);
void hwk_gemm8(hwk_isa isa, const uint8_t *x, int64_t p, int64_t ldx, const int8_t *wp, int64_t kp, int64_t mhp,
               int32_t *acc, int64_t ldacc);

#endif
