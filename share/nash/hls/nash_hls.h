// nash_hls.h - nash's streaming templates for the hardware layers of
// nash-ops(7), for Vitis HLS dataflow designs (and C simulation with g++
// through nash_shim.h).
//
// Streams carry words of N consecutive elements, nash::vec<T, N>, in
// H x W x C order (channels fastest): N is the layer's PE (outputs, or
// channels, per cycle) or SIMD (inputs per cycle). Each template processes
// one frame per call; the generated top function calls one per layer
// inside a DATAFLOW region. Memories (weights, thresholds, line buffers)
// are owned by the generated per-layer wrapper, which binds them to
// LUTRAM, BRAM or URAM as nash-est chose (ram_style); the templates hold
// the logic only. Semantics are those of the integer executor (lib/hwexec):
// the generated testbench checks C simulation against it bit for bit.
#ifndef NASH_HLS_H
#define NASH_HLS_H

#include "nash_shim.h"

// Constant initialisation of weight tables in C simulation (with the real
// ap_int types Vitis initialises them itself).
#ifdef NASH_HLS_REAL
#define NASH_CONSTEXPR
#else
#define NASH_CONSTEXPR constexpr
#endif

namespace nash {

// A word of N elements.
template <typename T, int N>
struct vec {
	T v[N];
};

// BIPOLAR {-1, +1} in one bit: 0 is -1, 1 is +1.
struct bipolar {
	ap_uint<1> b;
	NASH_CONSTEXPR bipolar() : b(0) {}
	NASH_CONSTEXPR bipolar(int x) : b(x > 0 ? 1 : 0) {}
	NASH_CONSTEXPR bipolar(long long x) : b(x > 0 ? 1 : 0) {}
	operator int() const { return b ? 1 : -1; }
	bool operator==(const bipolar &o) const { return b == o.b; }
};

// Raw bits of an element on the top-level AXI stream, and back.
template <typename W, typename T>
inline W to_bits(const T &x) { return W(x); }
template <typename W>
inline W to_bits(const bipolar &x) { return W(x.b); }
template <typename T, typename W>
struct from_bits_t { static T get(const W &w) { return T(w); } };
template <typename W>
struct from_bits_t<bipolar, W> {
	static bipolar get(const W &w) { bipolar b; b.b = ap_uint<1>(w); return b; }
};
template <typename T, typename W>
inline T from_bits(const W &w) { return from_bits_t<T, W>::get(w); }

// ------------------------------------------------------------ adapters

// Top-level input: one element per AXI word, grouped into words of N.
template <int TOTAL, int N, typename T, typename W>
void stream_in(hls::stream<W> &in, hls::stream<vec<T, N> > &out)
{
	vec<T, N> o;
	for (int i = 0; i < TOTAL; i++) {
#pragma HLS PIPELINE II=1
		o.v[i % N] = from_bits<T>(in.read());
		if (i % N == N - 1)
			out.write(o);
	}
}

// Top-level output: words of N to one element per AXI word.
template <int TOTAL, int N, typename T, typename W>
void stream_out(hls::stream<vec<T, N> > &in, hls::stream<W> &out)
{
	vec<T, N> x;
	for (int i = 0; i < TOTAL; i++) {
#pragma HLS PIPELINE II=1
		if (i % N == 0)
			x = in.read();
		out.write(to_bits<W>(x.v[i % N]));
	}
}

// StreamingDataWidthConverter: TOTAL elements from words of IN to words of OUT.
template <int TOTAL, int IN, int OUT, typename T>
void dwc(hls::stream<vec<T, IN> > &in, hls::stream<vec<T, OUT> > &out)
{
	vec<T, IN> x;
	vec<T, OUT> o;
	for (int i = 0; i < TOTAL; i++) {
#pragma HLS PIPELINE II=1
		if (i % IN == 0)
			x = in.read();
		o.v[i % OUT] = x.v[i % IN];
		if (i % OUT == OUT - 1)
			out.write(o);
	}
}

// ------------------------------------------------------------ activation

// #{t : v >= T[t]} over NSTEPS thresholds (all compared, in parallel).
template <int NSTEPS, typename TA, typename TT>
inline int count_steps(const TA &v, const TT *t)
{
	int n = 0;
	for (int s = 0; s < NSTEPS; s++) {
#pragma HLS UNROLL
		n += (v >= t[s]) ? 1 : 0;
	}
	return n;
}

// ActVal + count, or -1/+1 for a BIPOLAR output (one step).
template <typename TO, int BIPOUT>
inline TO act_out(int cnt, int actval)
{
	if (BIPOUT)
		return TO(cnt ? 1 : -1);
	return TO(actval + cnt);
}

// ------------------------------------------------------------ layers

// ConvolutionInputGenerator: H x W x C in (words of SIMD channels), the
// windows out, element order (ky, kx, c). buf holds the last
// DH*(KH-1)+1 input rows (a line buffer). Zero padding (pad is the
// stream's zero: -1 on a BIPOLAR stream).
template <int IH, int IW, int C, int KH, int KW, int SH, int SW, int DH, int DW, int PT, int PL, int PB, int PR,
          int SIMD, typename T>
void swg(hls::stream<vec<T, SIMD> > &in, hls::stream<vec<T, SIMD> > &out,
         vec<T, SIMD> buf[DH * (KH - 1) + 1][IW * (C / SIMD)],
         const T pad)
{
	const int CF = C / SIMD, ROWS = DH * (KH - 1) + 1;
	const int OH = (IH + PT + PB - DH * (KH - 1) - 1) / SH + 1;
	const int OW = (IW + PL + PR - DW * (KW - 1) - 1) / SW + 1;
	vec<T, SIMD> pv;
	for (int s = 0; s < SIMD; s++)
		pv.v[s] = pad;
	int rd = 0;
	for (int oy = 0; oy < OH; oy++) {
		int need = oy * SH - PT + DH * (KH - 1);
		if (need > IH - 1)
			need = IH - 1;
		for (; rd <= need; rd++)
			for (int x = 0; x < IW * CF; x++) {
#pragma HLS PIPELINE II=1
				buf[rd % ROWS][x] = in.read();
			}
		for (int ox = 0; ox < OW; ox++)
			for (int ky = 0; ky < KH; ky++)
				for (int kx = 0; kx < KW; kx++)
					for (int cf = 0; cf < CF; cf++) {
#pragma HLS PIPELINE II=1
						int iy = oy * SH - PT + ky * DH, ix = ox * SW - PL + kx * DW;
						if (iy >= 0 && iy < IH && ix >= 0 && ix < IW)
							out.write(buf[iy % ROWS][ix * CF + cf]);
						else
							out.write(pv);
					}
	}
	for (; rd < IH; rd++) /* rows below the last window */
		for (int x = 0; x < IW * CF; x++) {
#pragma HLS PIPELINE II=1
			in.read();
		}
}

// MVAU: per pixel acc[h] = sum_k x[k] * W[k][h] (XNOR: the number of
// agreements), then thresholds (NSTEPS > 0) or the accumulator out.
// w[pe][nf * (MW/SIMD) + sf][s] = W[sf*SIMD + s][nf*PE + pe];
// t[pe][nf][step] = T[nf*PE + pe][step].
template <int MW, int MH, int SIMD, int PE, int PIX, int NSTEPS, int XNOR, int BIPOUT, typename TI, typename TW,
          typename TA, typename TT, typename TO>
void mvau(hls::stream<vec<TI, SIMD> > &in, hls::stream<vec<TO, PE> > &out,
          const TW w[PE][(MW / SIMD) * (MH / PE)][SIMD], const TT t[PE][MH / PE][NSTEPS > 0 ? NSTEPS : 1],
          const int actval)
{
	const int SF = MW / SIMD, NF = MH / PE;
	vec<TI, SIMD> ibuf[SF];
	for (int p = 0; p < PIX; p++)
		for (int nf = 0; nf < NF; nf++) {
			TA acc[PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
			for (int pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
				acc[pe] = 0;
			}
			for (int sf = 0; sf < SF; sf++) {
#pragma HLS PIPELINE II=1
				vec<TI, SIMD> x;
				if (nf == 0) {
					x = in.read();
					ibuf[sf] = x;
				} else
					x = ibuf[sf];
				for (int pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
					TA sum = 0;
					for (int s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
						if (XNOR) /* both -1/+1: agreement is the XNOR of the bits */
							sum += ((int)x.v[s] == (int)w[pe][nf * SF + sf][s]) ? 1 : 0;
						else
							sum += x.v[s] * w[pe][nf * SF + sf][s];
					}
					acc[pe] += sum;
				}
			}
			vec<TO, PE> o;
			for (int pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
				if (NSTEPS > 0)
					o.v[pe] = act_out<TO, BIPOUT>(count_steps<NSTEPS>(acc[pe], t[pe][nf]), actval);
				else
					o.v[pe] = TO(acc[pe]);
			}
			out.write(o);
		}
}

// Thresholding: out[c] = ActVal + #{t : x[c] >= T[c][t]}, PE channels a word.
// t[pe][cf][step] = T[cf*PE + pe][step].
template <int C, int PE, int PIX, int NSTEPS, int BIPOUT, typename TI, typename TT, typename TO>
void thresholding(hls::stream<vec<TI, PE> > &in, hls::stream<vec<TO, PE> > &out, const TT t[PE][C / PE][NSTEPS],
                  const int actval)
{
	for (int p = 0; p < PIX; p++)
		for (int cf = 0; cf < C / PE; cf++) {
#pragma HLS PIPELINE II=1
			vec<TI, PE> x = in.read();
			vec<TO, PE> o;
			for (int pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
				o.v[pe] = act_out<TO, BIPOUT>(count_steps<NSTEPS>(x.v[pe], t[pe][cf]), actval);
			}
			out.write(o);
		}
}

// StreamingMaxPool (AVG 0; padding with padv, the datatype's minimum) and
// QuantAvgPool (AVG 1: the window sum in TA, arithmetic shift right by
// SHIFT; padding adds padv, the stream's zero). buf is a line buffer of
// KH input rows.
template <int IH, int IW, int C, int KH, int KW, int SH, int SW, int PT, int PL, int PB, int PR, int PE, int AVG,
          int SHIFT, typename TI, typename TA, typename TO>
void pool(hls::stream<vec<TI, PE> > &in, hls::stream<vec<TO, PE> > &out, vec<TI, PE> buf[KH][IW * (C / PE)],
          const TI padv)
{
	const int CF = C / PE, ROWS = KH;
	const int OH = (IH + PT + PB - KH) / SH + 1, OW = (IW + PL + PR - KW) / SW + 1;
	int rd = 0;
	for (int oy = 0; oy < OH; oy++) {
		int need = oy * SH - PT + KH - 1;
		if (need > IH - 1)
			need = IH - 1;
		for (; rd <= need; rd++)
			for (int x = 0; x < IW * CF; x++) {
#pragma HLS PIPELINE II=1
				buf[rd % ROWS][x] = in.read();
			}
		for (int ox = 0; ox < OW; ox++)
			for (int cf = 0; cf < CF; cf++) {
				TA acc[PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
				for (int pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
					acc[pe] = AVG ? TA(0) : TA(padv);
				}
				bool first = true;
				for (int ky = 0; ky < KH; ky++)
					for (int kx = 0; kx < KW; kx++) {
#pragma HLS PIPELINE II=1
						int iy = oy * SH - PT + ky, ix = ox * SW - PL + kx;
						bool inside = iy >= 0 && iy < IH && ix >= 0 && ix < IW;
						vec<TI, PE> x;
						if (inside)
							x = buf[iy % ROWS][ix * CF + cf];
						for (int pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
							TA v = inside ? TA(x.v[pe]) : TA(padv);
							if (AVG)
								acc[pe] += v;
							else if (first || v > acc[pe])
								acc[pe] = v;
						}
						first = false;
					}
				vec<TO, PE> o;
				for (int pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
					o.v[pe] = AVG ? TO(acc[pe] >> SHIFT) : TO(acc[pe]);
				}
				out.write(o);
			}
	}
	for (; rd < IH; rd++)
		for (int x = 0; x < IW * CF; x++) {
#pragma HLS PIPELINE II=1
			in.read();
		}
}

// AddStreams: elementwise sum, PE elements a word.
template <int WORDS, int PE, typename TA, typename TB, typename TO>
void add_streams(hls::stream<vec<TA, PE> > &a, hls::stream<vec<TB, PE> > &b, hls::stream<vec<TO, PE> > &out)
{
	for (int i = 0; i < WORDS; i++) {
#pragma HLS PIPELINE II=1
		vec<TA, PE> x = a.read();
		vec<TB, PE> y = b.read();
		vec<TO, PE> o;
		for (int pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
			o.v[pe] = TO(x.v[pe] + y.v[pe]);
		}
		out.write(o);
	}
}

// DuplicateStreams: every word to each of N outputs (an array of streams).
template <int WORDS, int N, typename V>
void duplicate(hls::stream<V> &in, hls::stream<V> out[N])
{
	for (int i = 0; i < WORDS; i++) {
#pragma HLS PIPELINE II=1
		V x = in.read();
		for (int j = 0; j < N; j++) {
#pragma HLS UNROLL
			out[j].write(x);
		}
	}
}

// StreamingConcat of 2, 3 or 4 streams along channels (W0.. words of each
// input per pixel, SIMD elements a word).
template <int PIX, int W0, int W1, typename V>
void concat(hls::stream<V> &i0, hls::stream<V> &i1, hls::stream<V> &out)
{
	for (int p = 0; p < PIX; p++) {
		for (int j = 0; j < W0; j++) {
#pragma HLS PIPELINE II=1
			out.write(i0.read());
		}
		for (int j = 0; j < W1; j++) {
#pragma HLS PIPELINE II=1
			out.write(i1.read());
		}
	}
}
template <int PIX, int W0, int W1, int W2, typename V>
void concat(hls::stream<V> &i0, hls::stream<V> &i1, hls::stream<V> &i2, hls::stream<V> &out)
{
	for (int p = 0; p < PIX; p++) {
		for (int j = 0; j < W0; j++) {
#pragma HLS PIPELINE II=1
			out.write(i0.read());
		}
		for (int j = 0; j < W1; j++) {
#pragma HLS PIPELINE II=1
			out.write(i1.read());
		}
		for (int j = 0; j < W2; j++) {
#pragma HLS PIPELINE II=1
			out.write(i2.read());
		}
	}
}
template <int PIX, int W0, int W1, int W2, int W3, typename V>
void concat(hls::stream<V> &i0, hls::stream<V> &i1, hls::stream<V> &i2, hls::stream<V> &i3, hls::stream<V> &out)
{
	for (int p = 0; p < PIX; p++) {
		for (int j = 0; j < W0; j++) {
#pragma HLS PIPELINE II=1
			out.write(i0.read());
		}
		for (int j = 0; j < W1; j++) {
#pragma HLS PIPELINE II=1
			out.write(i1.read());
		}
		for (int j = 0; j < W2; j++) {
#pragma HLS PIPELINE II=1
			out.write(i2.read());
		}
		for (int j = 0; j < W3; j++) {
#pragma HLS PIPELINE II=1
			out.write(i3.read());
		}
	}
}

// LabelSelect: indices of the K largest of LABELS scores, best first;
// equal scores keep the lower index first.
template <int LABELS, int PE, int K, typename TI, typename TO>
void label_select(hls::stream<vec<TI, PE> > &in, hls::stream<vec<TO, 1> > &out)
{
	TI best[K];
	int idx[K];
	for (int q = 0; q < K; q++) {
#pragma HLS UNROLL
		best[q] = TI(0);
		idx[q] = 0;
	}
#pragma HLS ARRAY_PARTITION variable=best complete
#pragma HLS ARRAY_PARTITION variable=idx complete
	int have = 0;
	for (int i = 0; i < LABELS / PE; i++) {
		vec<TI, PE> x = in.read();
		for (int pe = 0; pe < PE; pe++) {
			TI v = x.v[pe];
			int id = i * PE + pe;
			// insert before the first kept score strictly below v
			int pos = have;
			for (int q = 0; q < K; q++)
				if (q < have && v > best[q] && pos == have)
					pos = q;
			if (pos < K) {
				for (int q = K - 1; q > 0; q--)
					if (q > pos) {
						best[q] = best[q - 1];
						idx[q] = idx[q - 1];
					}
				best[pos] = v;
				idx[pos] = id;
				if (have < K)
					have++;
			}
		}
	}
	for (int q = 0; q < K; q++) {
		vec<TO, 1> o;
		o.v[0] = TO(idx[q]);
		out.write(o);
	}
}

} // namespace nash

#endif
