/* unit.h - a tiny TAP producer for C unit tests. Each CHECK prints
 * "ok N - what" or "not ok N - what" with the failing expression. */
#ifndef NASH_UNIT_H
#define NASH_UNIT_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int unit_n, unit_fail;
#define CHECK(cond, ...) do { \
	unit_n++; \
	if (cond) { printf("ok %d - ", unit_n); printf(__VA_ARGS__); printf("\n"); } \
	else { unit_fail++; printf("not ok %d - ", unit_n); printf(__VA_ARGS__); \
	       printf("\n#   %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)
#define CHECK_NEAR(a, b, tol, ...) do { double _a = (a), _b = (b); \
	CHECK(fabs(_a - _b) <= (tol), __VA_ARGS__); \
	if (!(fabs(_a - _b) <= (tol))) printf("#   got %.9g, want %.9g (tol %g)\n", _a, _b, (double)(tol)); \
} while (0)
#define UNIT_DONE() do { printf("1..%d\n", unit_n); return unit_fail ? 1 : 0; } while (0)
#endif
