/* The pointwise half of one (graph) LSTM step, forward and backward, in one pass over memory.
 *
 * Compiled once per machine by nivalis/layers/native_lstm.py (gcc or cc, -O3, vectorised by the compiler) and
 * called through ctypes from `lstm_recurrence`; the equations are those of nivalis/layers/graph_conv_lstm.py:
 *
 *   I = s(Zi + wci*Cp)   F = s(Zf + wcf*Cp)   G = tanh Zg   C = F*Cp + I*G   O = s(Zo + wco*C)   H = O*tanh C
 *
 * with s the logistic sigmoid and tanh x = 2 s(2x) - 1 (the form the PyTorch path uses). Done op by op, every
 * line above is a separate pass over tens of MB; here each row is read and written once.
 *
 * Rows are independent; within a row the loops over the H channels are SIMD loops. Matrices are row-major:
 * Z and dZ are [rows, 4H] (gates i, f, g, o) in bfloat16 or float32 with a row stride, the gate outputs
 * [rows, 4, H], C, tanh C and C_prev [rows, H] in float32. Callers pass zeros for C_prev at the first step,
 * for the peepholes w_c [3, H] of a cell without them and for dH of the last step when H has no gradient.
 */
#include <stdint.h>
#include <string.h>

static inline float bits_f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bf16_f(uint16_t h) { return bits_f((uint32_t)h << 16); }
static inline uint16_t f_bf16(float f) {  /* round to nearest even as PyTorch does; NaN stays a quiet NaN */
    uint32_t u = f_bits(f);
    uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? (u >> 16) | 0x40u : rounded);
}

/* exp x: Cody-Waite reduction by ln 2 and Cephes' degree-6 polynomial, about 1 ulp, no branches */
static inline float exp_f(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = x * 1.44269504088896341f + 12582912.0f;  /* round x / ln 2 to an integer in the mantissa */
    uint32_t ni = f_bits(n) - f_bits(12582912.0f);
    n -= 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * bits_f((ni + 127u) << 23);
}

static inline float sig_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

static inline void load_row(float *dst, const void *src, int bf16, int64_t n) {
    if (bf16) {
        const uint16_t *p = (const uint16_t *)src;
        for (int64_t j = 0; j < n; ++j) dst[j] = bf16_f(p[j]);
    } else {
        memcpy(dst, src, (size_t)n * sizeof(float));
    }
}

static inline void store_row(void *dst, const float *src, int bf16, int64_t n) {
    if (bf16) {
        uint16_t *p = (uint16_t *)dst;
        for (int64_t j = 0; j < n; ++j) p[j] = f_bf16(src[j]);
    } else {
        memcpy(dst, src, (size_t)n * sizeof(float));
    }
}

/* Forward step: Z -> gates (after their nonlinearity), C, tanh C and H (row stride h_stride). */
void nv_lstm_forward(int64_t rows, int64_t H, const void *z, int z_bf16, int64_t z_stride,
                     const float *c_prev, const float *w_c, float *gates, float *cells, float *tanh_c,
                     void *h_out, int h_bf16, int64_t h_stride) {
    const int64_t zsize = z_bf16 ? 2 : 4, hsize = h_bf16 ? 2 : 4;
    for (int64_t r = 0; r < rows; ++r) {
        float zr[4 * H], hr[H];
        load_row(zr, (const char *)z + r * z_stride * zsize, z_bf16, 4 * H);
        float *g = gates + r * 4 * H, *c = cells + r * H, *tc = tanh_c + r * H;
        const float *cp = c_prev + r * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
            float cpj = cp[j];
            float i = sig_f(zr[j] + w_c[j] * cpj);
            float f = sig_f(zr[H + j] + w_c[H + j] * cpj);
            float gg = 2.0f * sig_f(2.0f * zr[2 * H + j]) - 1.0f;
            float cj = f * cpj + i * gg;
            float o = sig_f(zr[3 * H + j] + w_c[2 * H + j] * cj);
            float t = 2.0f * sig_f(2.0f * cj) - 1.0f;
            g[j] = i; g[H + j] = f; g[2 * H + j] = gg; g[3 * H + j] = o;
            c[j] = cj; tc[j] = t; hr[j] = o * t;
        }
        store_row((char *)h_out + r * h_stride * hsize, hr, h_bf16, H);
    }
}

/* Backward step: dH (row stride dh_stride) and dC of step t -> dZ of step t, dC of step t-1 (in place in dc),
 * and the peephole gradients added to peep [3, H] (double). */
void nv_lstm_backward(int64_t rows, int64_t H, const void *dh, int dh_bf16, int64_t dh_stride, float *dc,
                      const float *gates, const float *cells, const float *tanh_c, const float *c_prev,
                      const float *w_c, void *dz, int dz_bf16, int64_t dz_stride, double *peep) {
    const int64_t dhsize = dh_bf16 ? 2 : 4, dzsize = dz_bf16 ? 2 : 4;
    float acc[3 * H];
    for (int64_t j = 0; j < 3 * H; ++j) acc[j] = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
        float dhr[H], da[4 * H];
        load_row(dhr, (const char *)dh + r * dh_stride * dhsize, dh_bf16, H);
        const float *g = gates + r * 4 * H, *c = cells + r * H, *tc = tanh_c + r * H, *cp = c_prev + r * H;
        float *dcr = dc + r * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
            float i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j], t = tc[j], cpj = cp[j];
            float dao = dhr[j] * t * o * (1.0f - o);                  /* H = O tanh C */
            float dcj = dcr[j] + dhr[j] * o * (1.0f - t * t) + dao * w_c[2 * H + j];
            float dai = dcj * gg * i * (1.0f - i);                    /* C = F Cp + I G */
            float dag = dcj * i * (1.0f - gg * gg);
            float daf = dcj * cpj * f * (1.0f - f);
            dcr[j] = dcj * f + dai * w_c[j] + daf * w_c[H + j];
            acc[j] += dai * cpj; acc[H + j] += daf * cpj; acc[2 * H + j] += dao * c[j];
            da[j] = dai; da[H + j] = daf; da[2 * H + j] = dag; da[3 * H + j] = dao;
        }
        store_row((char *)dz + r * dz_stride * dzsize, da, dz_bf16, 4 * H);
    }
    for (int64_t j = 0; j < 3 * H; ++j) peep[j] += acc[j];
}
