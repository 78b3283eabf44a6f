// Causal multi-head self-attention (llm.c attention_forward / attention_backward) on the cpu,
// with the score and value products as GEMMs per (batch, head).
package sparkgpt.kernels.cpu;

import sparkgpt.kernels.Parallel;

final class Attention {
    private Attention() {}

    // Rows are processed in blocks of TB: block [r0, r1) only needs columns [0, r1), so the GEMMs
    // skip most of the masked upper triangle (T=256: 640 of 1024 columns-per-row-block computed).
    static final int TB = 64;

    // Per thread: the keys and values of one (b, h) packed once as GEMM B operands, reused by
    // every row block (packing them per block cost as much as the block's products).
    private static final ThreadLocal<float[][]> PACKED = ThreadLocal.withInitial(() -> new float[2][0]);

    private static float[][] packed(int size) {
        float[][] p = PACKED.get();
        if (p[0].length < size) {
            p[0] = new float[size];
            p[1] = new float[size];
        }
        return p;
    }

    // qkv (B,T,3C) holds q,k,v; preatt, att (B,NH,T,T); out (B,T,C). Row t attends to t2 <= t,
    // scores scaled by 1/sqrt(hs) ("Attention Is All You Need", eq. 1); att[t, t2 > t] = 0, so the
    // value product may run over the full rows.
    static void forward(float[] acts, int outOff, int preattOff, int attOff, int qkvOff,
                        int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        int C3 = 3 * C;
        Parallel.parallelForDynamic(B * NH, bh -> {
            int b = bh / NH, h = bh % NH;
            int q = qkvOff + b * T * C3 + h * hs, k = q + C, v = q + 2 * C;
            int pre = preattOff + bh * T * T, at = attOff + bh * T * T;
            float[][] p = packed(Math.max(Sgemm.packedBSize(hs, T), Sgemm.packedBSize(T, hs)));
            float[] kT = p[0], vp = p[1];
            Sgemm.packWholeB(true, hs, T, acts, k, C3, kT);   // k^T [hs, T]
            Sgemm.packWholeB(false, T, hs, acts, v, C3, vp);  // v [T, hs]
            // preatt[r0:r1, 0:r1] = q[r0:r1] . k[0:r1]^T
            for (int r0 = 0; r0 < T; r0 += TB) {
                int r1 = Math.min(T, r0 + TB);
                Sgemm.sgemmPackedB(false, r1 - r0, r1, hs, acts, q + r0 * C3, C3, kT, hs, acts, pre + r0 * T, T, false);
            }
            for (int t = 0; t < T; t++) {
                int row = t * T;
                VectorRows.scale(acts, pre + row, t + 1, scale);
                float max = VectorRows.max(acts, pre + row, t + 1);
                float sum = VectorRows.expShifted(acts, pre + row, acts, at + row, t + 1, max);
                VectorRows.scale(acts, at + row, t + 1, 1f / sum);
                for (int t2 = t + 1; t2 < T; t2++) {
                    acts[at + row + t2] = 0f;
                    acts[pre + row + t2] = 0f;
                }
            }
            // out[r0:r1] (hs wide) = att[r0:r1, 0:r1] . v[0:r1]
            int out = outOff + b * T * C + h * hs;
            for (int r0 = 0; r0 < T; r0 += TB) {
                int r1 = Math.min(T, r0 + TB);
                Sgemm.sgemmPackedB(false, r1 - r0, hs, r1, acts, at + r0 * T, T, vp, T, acts, out + r0 * C, C, false);
            }
        });
    }

    // dqkv += ...; dpreatt and datt (B,NH,T,T) are scratch, overwritten here. Parallel over
    // (b, h): each pair owns its head's columns of dqkv, so there are no write races.
    static void backward(float[] dacts, int dqkvOff, int dpreattOff, int dattOff, int doutOff,
                         float[] acts, int qkvOff, int attOff, int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        int C3 = 3 * C;
        Parallel.parallelForDynamic(B * NH, bh -> {
            int b = bh / NH, h = bh % NH;
            int q = qkvOff + b * T * C3 + h * hs, k = q + C, v = q + 2 * C;
            int dq = dqkvOff + b * T * C3 + h * hs, dk = dq + C, dv = dq + 2 * C;
            int at = attOff + bh * T * T, dat = dattOff + bh * T * T, dpre = dpreattOff + bh * T * T;
            int dout = doutOff + b * T * C + h * hs;
            float[][] p = packed(Math.max(Sgemm.packedBSize(hs, T), Sgemm.packedBSize(T, hs)));
            float[] vT = p[0], kp = p[1];
            Sgemm.packWholeB(true, hs, T, acts, v, C3, vT);   // v^T [hs, T]
            Sgemm.packWholeB(false, T, hs, acts, k, C3, kp);  // k [T, hs]
            // datt[r0:r1, 0:r1] = dout[r0:r1] . v[0:r1]^T;  dv[0:r1] += att[r0:r1, 0:r1]^T . dout[r0:r1]
            for (int r0 = 0; r0 < T; r0 += TB) {
                int r1 = Math.min(T, r0 + TB);
                Sgemm.sgemmPackedB(false, r1 - r0, r1, hs, dacts, dout + r0 * C, C, vT, hs, dacts, dat + r0 * T, T, false);
                Sgemm.sgemm(true, false, r1, hs, r1 - r0, acts, at + r0 * T, T, dacts, dout + r0 * C, C, dacts, dv, C3, true);
            }
            // softmax backward: dpre = att * (datt - sum(att * datt)), times the score scale
            for (int t = 0; t < T; t++) {
                int row = t * T;
                float dot = VectorRows.dot(acts, at + row, dacts, dat + row, t + 1);
                for (int t2 = 0; t2 <= t; t2++) {
                    dacts[dpre + row + t2] = acts[at + row + t2] * (dacts[dat + row + t2] - dot) * scale;
                }
                for (int t2 = t + 1; t2 < T; t2++) {
                    dacts[dpre + row + t2] = 0f;
                    dacts[dat + row + t2] = 0f;
                }
            }
            // dq[r0:r1] += dpre[r0:r1, 0:r1] . k[0:r1];  dk[0:r1] += dpre[r0:r1, 0:r1]^T . q[r0:r1]
            for (int r0 = 0; r0 < T; r0 += TB) {
                int r1 = Math.min(T, r0 + TB);
                Sgemm.sgemmPackedB(false, r1 - r0, hs, r1, dacts, dpre + r0 * T, T, kp, T, dacts, dq + r0 * C3, C3, true);
                Sgemm.sgemm(true, false, r1, hs, r1 - r0, dacts, dpre + r0 * T, T, acts, q + r0 * C3, C3, dacts, dk, C3, true);
            }
        });
    }
}
