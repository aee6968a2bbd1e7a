// nash_shim.h - arbitrary-width integers and streams for C simulation with
// plain g++ when the Vitis HLS headers are absent. Under Vitis HLS (or
// whenever <ap_int.h> and <hls_stream.h> are on the include path and
// NASH_HLS_SHIM is not defined) the real headers are used instead.
//
// Only what nash's templates and generated code use is provided:
//   ap_int<W>, ap_uint<W> (1 <= W <= 64): construction from any integer
//     wraps to W bits (two's complement), the value converts to long long,
//     so arithmetic is exact in 64 bits and wraps only when assigned, as
//     with the real types for the widths nash generates;
//   hls::stream<T>: an unbounded FIFO with read, write, empty, size,
//     operator<< and operator>>; reading an empty stream is a fatal error
//     (as in Vitis C simulation).
#ifndef NASH_SHIM_H
#define NASH_SHIM_H

#if !defined(NASH_HLS_SHIM) && defined(__has_include)
#if __has_include(<ap_int.h>) && __has_include(<hls_stream.h>)
#define NASH_HLS_REAL 1
#endif
#endif

#ifdef NASH_HLS_REAL
#include <ap_int.h>
#include <hls_stream.h>
#else

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

template <int W, bool S>
struct nash_apint {
	static_assert(W >= 1 && W <= 64, "the shim holds 1 to 64 bits");
	long long v;
	static constexpr long long wrap(long long x)
	{
		return W == 64 ? x
		       : S     ? (long long)((unsigned long long)x << (64 - W)) >> (64 - W)
		               : (long long)((unsigned long long)x & ((~0ULL) >> (64 - W)));
	}
	constexpr nash_apint() : v(0) {}
	constexpr nash_apint(long long x) : v(wrap(x)) {}
	constexpr nash_apint(unsigned long long x) : v(wrap((long long)x)) {}
	constexpr nash_apint(int x) : v(wrap(x)) {}
	constexpr nash_apint(unsigned x) : v(wrap((long long)x)) {}
	constexpr nash_apint(long x) : v(wrap(x)) {}
	constexpr nash_apint(unsigned long x) : v(wrap((long long)x)) {}
	constexpr nash_apint(bool x) : v(x) {}
	template <int W2, bool S2>
	constexpr nash_apint(const nash_apint<W2, S2> &o) : v(wrap(o.v)) {}
	constexpr operator long long() const { return v; }
	long long to_int64() const { return v; }
	int to_int() const { return (int)v; }
	template <class X> nash_apint &operator+=(const X &x) { v = wrap(v + (long long)x); return *this; }
	template <class X> nash_apint &operator-=(const X &x) { v = wrap(v - (long long)x); return *this; }
	nash_apint &operator++() { v = wrap(v + 1); return *this; }
};

template <int W> using ap_int = nash_apint<W, true>;
template <int W> using ap_uint = nash_apint<W, false>;

namespace hls {
template <typename T>
class stream {
	std::deque<T> q;
	std::string nm;

public:
	stream() : nm("stream") {}
	explicit stream(const char *name) : nm(name) {}
	stream(const stream &) = delete;
	T read()
	{
		if (q.empty()) {
			std::fprintf(stderr, "csim: read from empty stream %s\n", nm.c_str());
			std::exit(2);
		}
		T x = q.front();
		q.pop_front();
		return x;
	}
	void read(T &x) { x = read(); }
	void write(const T &x) { q.push_back(x); }
	bool empty() const { return q.empty(); }
	bool full() const { return false; }
	std::size_t size() const { return q.size(); }
	void operator>>(T &x) { x = read(); }
	void operator<<(const T &x) { write(x); }
};
} // namespace hls

#endif
#endif
