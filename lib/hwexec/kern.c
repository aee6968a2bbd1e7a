/* kern.c - the integer GEMM kernels of the executor: int16 x int16 products
 * summed in int32, the weights packed in blocks of 16 outputs with the
 * reduction dimension in pairs, so one pmaddwd (or vpdpwssd) adds two
 * products for 16 (AVX-512), 8 (AVX2) or 4 (SSE2) outputs at once. Exact:
 * the caller only takes this path when every partial sum fits in int32.
 *
 * The binary runs on any x86-64: SSE2 is the baseline; AVX2 and AVX-512
 * kernels are compiled with target attributes and picked at run time. */
#include "kern.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HWK_X86 1
#endif

static inline int32_t pair_at(const int16_t *p)
{
	int32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

/* Packed index of weight (k, h): block h/16, pair k/2, lane h%16, k%2. */
void hwk_pack(const int64_t *w, int64_t mw, int64_t mh, int64_t kp, int16_t *wp)
{
	int64_t mhp = (mh + HWK_NB - 1) / HWK_NB * HWK_NB;
	memset(wp, 0, (size_t)(mhp * kp) * sizeof *wp);
	for (int64_t k = 0; k < mw; k++)
		for (int64_t h = 0; h < mh; h++) {
			int64_t nb = h / HWK_NB, j = h % HWK_NB;
			wp[((nb * (kp / 2) + k / 2) * HWK_NB + j) * 2 + (k & 1)] = (int16_t)w[k * mh + h];
		}
}

static void gemm_scalar(const int16_t *x, int64_t p, int64_t ldx, const int16_t *wp, int64_t kp, int64_t mhp,
                        int32_t *acc, int64_t ldacc)
{
	for (int64_t nb = 0; nb < mhp / HWK_NB; nb++) {
		const int16_t *wb = wp + nb * kp * HWK_NB;
		for (int64_t r = 0; r < p; r++) {
			int32_t a[HWK_NB] = {0};
			const int16_t *xr = x + r * ldx;
			for (int64_t kk = 0; kk < kp / 2; kk++) {
				int32_t x0 = xr[2 * kk], x1 = xr[2 * kk + 1];
				const int16_t *w = wb + kk * 2 * HWK_NB;
				for (int j = 0; j < HWK_NB; j++)
					a[j] += x0 * w[2 * j] + x1 * w[2 * j + 1];
			}
			memcpy(acc + r * ldacc + nb * HWK_NB, a, sizeof a);
		}
	}
}

#ifdef HWK_X86
/* SSE2: four xmm hold the 16 outputs; two rows at a time. */
#define SSE_ROWS(R)                                                                              \
	do {                                                                                         \
		__m128i a[R][4];                                                                         \
		for (int r = 0; r < R; r++)                                                              \
			for (int q = 0; q < 4; q++)                                                          \
				a[r][q] = _mm_setzero_si128();                                                   \
		for (int64_t kk = 0; kk < kp / 2; kk++) {                                                \
			const __m128i *w = (const __m128i *)(wb + kk * 2 * HWK_NB);                         \
			__m128i w0 = _mm_load_si128(w), w1 = _mm_load_si128(w + 1);                          \
			__m128i w2 = _mm_load_si128(w + 2), w3 = _mm_load_si128(w + 3);                      \
			for (int r = 0; r < R; r++) {                                                        \
				__m128i xb = _mm_set1_epi32(pair_at(x + (r0 + r) * ldx + 2 * kk));               \
				a[r][0] = _mm_add_epi32(a[r][0], _mm_madd_epi16(xb, w0));                        \
				a[r][1] = _mm_add_epi32(a[r][1], _mm_madd_epi16(xb, w1));                        \
				a[r][2] = _mm_add_epi32(a[r][2], _mm_madd_epi16(xb, w2));                        \
				a[r][3] = _mm_add_epi32(a[r][3], _mm_madd_epi16(xb, w3));                        \
			}                                                                                    \
		}                                                                                        \
		for (int r = 0; r < R; r++)                                                              \
			for (int q = 0; q < 4; q++)                                                          \
				_mm_storeu_si128((__m128i *)(acc + (r0 + r) * ldacc + nb * HWK_NB + 4 * q), a[r][q]); \
	} while (0)

static void gemm_sse2(const int16_t *x, int64_t p, int64_t ldx, const int16_t *wp, int64_t kp, int64_t mhp,
                      int32_t *acc, int64_t ldacc)
{
	for (int64_t nb = 0; nb < mhp / HWK_NB; nb++) {
		const int16_t *wb = wp + nb * kp * HWK_NB;
		int64_t r0 = 0;
		for (; r0 + 2 <= p; r0 += 2)
			SSE_ROWS(2);
		for (; r0 < p; r0++)
			SSE_ROWS(1);
	}
}

/* AVX2: two ymm hold the 16 outputs; four rows at a time. */
#define AVX2_ROWS(R)                                                                             \
	do {                                                                                         \
		__m256i a[R][2];                                                                         \
		for (int r = 0; r < R; r++)                                                              \
			a[r][0] = a[r][1] = _mm256_setzero_si256();                                          \
		for (int64_t kk = 0; kk < kp / 2; kk++) {                                                \
			const __m256i *w = (const __m256i *)(wb + kk * 2 * HWK_NB);                         \
			__m256i w0 = _mm256_load_si256(w), w1 = _mm256_load_si256(w + 1);                    \
			for (int r = 0; r < R; r++) {                                                        \
				__m256i xb = _mm256_set1_epi32(pair_at(x + (r0 + r) * ldx + 2 * kk));            \
				a[r][0] = _mm256_add_epi32(a[r][0], _mm256_madd_epi16(xb, w0));                  \
				a[r][1] = _mm256_add_epi32(a[r][1], _mm256_madd_epi16(xb, w1));                  \
			}                                                                                    \
		}                                                                                        \
		for (int r = 0; r < R; r++) {                                                            \
			_mm256_storeu_si256((__m256i *)(acc + (r0 + r) * ldacc + nb * HWK_NB), a[r][0]);     \
			_mm256_storeu_si256((__m256i *)(acc + (r0 + r) * ldacc + nb * HWK_NB + 8), a[r][1]); \
		}                                                                                        \
	} while (0)

__attribute__((target("avx2"))) static void gemm_avx2(const int16_t *x, int64_t p, int64_t ldx,
                                                        const int16_t *wp, int64_t kp, int64_t mhp,
                                                        int32_t *acc, int64_t ldacc)
{
	for (int64_t nb = 0; nb < mhp / HWK_NB; nb++) {
		const int16_t *wb = wp + nb * kp * HWK_NB;
		int64_t r0 = 0;
		for (; r0 + 4 <= p; r0 += 4)
			AVX2_ROWS(4);
		for (; r0 < p; r0++)
			AVX2_ROWS(1);
	}
}

/* AVX-512 with VNNI: one zmm holds the 16 outputs; eight rows at a time,
 * vpdpwssd adds the two products straight into the accumulator. */
#define AVX512_ROWS(R)                                                                           \
	do {                                                                                         \
		__m512i a[R];                                                                            \
		for (int r = 0; r < R; r++)                                                              \
			a[r] = _mm512_setzero_si512();                                                       \
		for (int64_t kk = 0; kk < kp / 2; kk++) {                                                \
			__m512i w0 = _mm512_load_si512((const void *)(wb + kk * 2 * HWK_NB));               \
			for (int r = 0; r < R; r++)                                                          \
				a[r] = _mm512_dpwssd_epi32(a[r], _mm512_set1_epi32(pair_at(x + (r0 + r) * ldx + 2 * kk)), w0); \
		}                                                                                        \
		for (int r = 0; r < R; r++)                                                              \
			_mm512_storeu_si512((void *)(acc + (r0 + r) * ldacc + nb * HWK_NB), a[r]);           \
	} while (0)

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
gemm_avx512(const int16_t *x, int64_t p, int64_t ldx, const int16_t *wp, int64_t kp, int64_t mhp, int32_t *acc,
            int64_t ldacc)
{
	for (int64_t nb = 0; nb < mhp / HWK_NB; nb++) {
		const int16_t *wb = wp + nb * kp * HWK_NB;
		int64_t r0 = 0;
		for (; r0 + 8 <= p; r0 += 8)
			AVX512_ROWS(8);
		for (; r0 < p; r0++)
			AVX512_ROWS(1);
	}
}
#endif

/* ---- u8 x s8 -> s32: four products a lane (vpdpbusd) ---- */

void hwk_pack8(const int64_t *w, int64_t mw, int64_t mh, int64_t kp, int8_t *wp)
{
	int64_t mhp = (mh + HWK_NB - 1) / HWK_NB * HWK_NB;
	memset(wp, 0, (size_t)(mhp * kp));
	for (int64_t k = 0; k < mw; k++)
		for (int64_t h = 0; h < mh; h++) {
			int64_t nb = h / HWK_NB, j = h % HWK_NB;
			wp[((nb * (kp / 4) + k / 4) * HWK_NB + j) * 4 + (k & 3)] = (int8_t)w[k * mh + h];
		}
}

static void gemm8_scalar(const uint8_t *x, int64_t p, int64_t ldx, const int8_t *wp, int64_t kp, int64_t mhp,
                         int32_t *acc, int64_t ldacc)
{
	for (int64_t nb = 0; nb < mhp / HWK_NB; nb++) {
		const int8_t *wb = wp + nb * kp * HWK_NB;
		for (int64_t r = 0; r < p; r++) {
			int32_t a[HWK_NB] = {0};
			const uint8_t *xr = x + r * ldx;
			for (int64_t kq = 0; kq < kp / 4; kq++) {
				const int8_t *w = wb + kq * 4 * HWK_NB;
				for (int j = 0; j < HWK_NB; j++)
					for (int q = 0; q < 4; q++)
						a[j] += (int32_t)xr[4 * kq + q] * w[4 * j + q];
			}
			memcpy(acc + r * ldacc + nb * HWK_NB, a, sizeof a);
		}
	}
}

#ifdef HWK_X86
/* R rows x B column blocks of 16: R*B accumulators, each x broadcast
 * feeds B vpdpbusd, each weight load R of them. */
#define AVX512_TILE8(R, B)                                                                       \
	do {                                                                                         \
		__m512i a[R][B];                                                                         \
		for (int r = 0; r < R; r++)                                                              \
			for (int q = 0; q < B; q++)                                                          \
				a[r][q] = _mm512_setzero_si512();                                                \
		for (int64_t kq = 0; kq < kp / 4; kq++) {                                                \
			__m512i w[B];                                                                        \
			for (int q = 0; q < B; q++)                                                          \
				w[q] = _mm512_load_si512((const void *)(wb + (q * (kp / 4) + kq) * 4 * HWK_NB)); \
			for (int r = 0; r < R; r++) {                                                        \
				int32_t xv;                                                                      \
				memcpy(&xv, x + (r0 + r) * ldx + 4 * kq, 4);                                     \
				__m512i xb = _mm512_set1_epi32(xv);                                              \
				for (int q = 0; q < B; q++)                                                      \
					a[r][q] = _mm512_dpbusd_epi32(a[r][q], xb, w[q]);                            \
			}                                                                                    \
		}                                                                                        \
		for (int r = 0; r < R; r++)                                                              \
			for (int q = 0; q < B; q++)                                                          \
				_mm512_storeu_si512((void *)(acc + (r0 + r) * ldacc + (nb + q) * HWK_NB), a[r][q]); \
	} while (0)

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
gemm8_avx512(const uint8_t *x, int64_t p, int64_t ldx, const int8_t *wp, int64_t kp, int64_t mhp, int32_t *acc,
             int64_t ldacc)
{
	int64_t nbs = mhp / HWK_NB, nb = 0;
	for (; nb + 2 <= nbs; nb += 2) { /* pairs of column blocks: 8 x 2 accumulators */
		const int8_t *wb = wp + nb * kp * HWK_NB;
		int64_t r0 = 0;
		for (; r0 + 8 <= p; r0 += 8)
			AVX512_TILE8(8, 2);
		for (; r0 < p; r0++)
			AVX512_TILE8(1, 2);
	}
	for (; nb < nbs; nb++) { /* a single block: 12 rows keep vpdpbusd busy */
		const int8_t *wb = wp + nb * kp * HWK_NB;
		int64_t r0 = 0;
		for (; r0 + 12 <= p; r0 += 12)
			AVX512_TILE8(12, 1);
		for (; r0 < p; r0++)
			AVX512_TILE8(1, 1);
	}
}
#endif

int hwk_has_u8(hwk_isa isa)
{
	return isa == HWK_AVX512 || isa == HWK_SCALAR;
}

void hwk_gemm8(hwk_isa isa, const uint8_t *x, int64_t p, int64_t ldx, const int8_t *wp, int64_t kp, int64_t mhp,
               int32_t *acc, int64_t ldacc)
{
#ifdef HWK_X86
	if (isa == HWK_AVX512) {
		gemm8_avx512(x, p, ldx, wp, kp, mhp, acc, ldacc);
		return;
	}
#endif
	(void)isa;
	gemm8_scalar(x, p, ldx, wp, kp, mhp, acc, ldacc);
}

static const char *isa_names[] = {"scalar", "sse2", "avx2", "avx512"};

const char *hwk_isa_name(hwk_isa i)
{
	return i >= 0 && i < 4 ? isa_names[i] : "?";
}

hwk_isa hwk_best(void)
{
#ifdef HWK_X86
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512vnni"))
		return HWK_AVX512;
	if (__builtin_cpu_supports("avx2"))
		return HWK_AVX2;
	return HWK_SSE2;
#else
	return HWK_SCALAR;
#endif
}

int hwk_isa_parse(const char *s, hwk_isa *out)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, isa_names[i])) {
			if ((hwk_isa)i > hwk_best())
				return -1;
			*out = (hwk_isa)i;
			return 0;
		}
	return -1;
}

void hwk_gemm(hwk_isa isa, const int16_t *x, int64_t p, int64_t ldx, const int16_t *wp, int64_t kp, int64_t mhp,
              int32_t *acc, int64_t ldacc)
{
	switch (isa) {
#ifdef HWK_X86
	case HWK_AVX512: gemm_avx512(x, p, ldx, wp, kp, mhp, acc, ldacc); return;
	case HWK_AVX2: gemm_avx2(x, p, ldx, wp, kp, mhp, acc, ldacc); return;
	case HWK_SSE2: gemm_sse2(x, p, ldx, wp, kp, mhp, acc, ldacc); return;
#endif
	default: gemm_scalar(x, p, ldx, wp, kp, mhp, acc, ldacc); return;
	}
}
