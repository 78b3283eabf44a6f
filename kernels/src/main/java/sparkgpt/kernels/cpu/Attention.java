// Causal multi-head self-attention (llm.c attention_forward / attention_backward) on the cpu,
// with the score and value products as GEMMs per (batch, head).
package sparkgpt.kernels.cpu;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import sparkgpt.kernels.Parallel;

final class Attention {
    private Attention() {}

    // Rows are processed in blocks of TB: block [r0, r1) only needs columns [0, r1), so the GEMMs
    // skip most of the masked upper triangle (T=256: 640 of 1024 columns-per-row-block computed).
    static final int TB = 64;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Lane numbers 0, 1, ..., L - 1: lanes below r are {@code IOTA.lt(r)}. */
    private static final FloatVector IOTA = FloatVector.fromArray(S, iota(), 0);
    /** Operands made once, not broadcast at every use (see VectorMath's constants: C2's node cutoff). */
    private static final FloatVector ZERO = FloatVector.zero(S), NEG_INF = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);

    private static float[] iota() {
        float[] a = new float[L];
        for (int i = 0; i < L; i++) a[i] = i;
        return a;
    }

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

    // Per thread: one (b, h)'s scores and probabilities (T x T each), the only place they exist.
    private static final ThreadLocal<float[][]> SCORES = ThreadLocal.withInitial(() -> new float[2][0]);

    private static float[][] scores(int T) {
        float[][] s = SCORES.get();
        if (s[0].length < T * T) {
            s[0] = new float[T * T];
            s[1] = new float[T * T];
        }
        return s;
    }

    // qkv (B,T,3C) holds q,k,v; out (B,T,C); stats (B,NH,T,2) the max and 1/sum of each row's scaled
    // scores, from which backward recomputes the probabilities bit for bit.
    static void forward(float[] acts, int outOff, int statsOff, int qkvOff, int B, int T, int C, int NH) {
        int hs = C / NH;
        int C3 = 3 * C;
        Parallel.parallelForDynamic(B * NH, bh -> {
            int b = bh / NH, h = bh % NH;
            int q = qkvOff + b * T * C3 + h * hs, k = q + C, v = q + 2 * C;
            float[][] p = packed(Math.max(Sgemm.packedBSize(hs, T), Sgemm.packedBSize(T, hs)));
            float[] kT = p[0], vp = p[1];
            float[][] s = scores(T);
            Sgemm.packWholeB(true, hs, T, acts, k, C3, kT);   // k^T [hs, T]
            Sgemm.packWholeB(false, T, hs, acts, v, C3, vp);  // v [T, hs]
            probabilities(acts, q, C3, kT, hs, T, s[0], s[1], statsOff + bh * T * 2, false);
            // out[r0:r1] (hs wide) = att[r0:r1, 0:r1] . v[0:r1]
            int out = outOff + b * T * C + h * hs;
            for (int r0 = 0; r0 < T; r0 += TB) {
                int r1 = Math.min(T, r0 + TB);
                Sgemm.sgemmPackedB(false, r1 - r0, hs, r1, s[1], r0 * T, T, vp, T, acts, out + r0 * C, C, false);
            }
        });
    }

    // att (T,T) = softmax of one (b, h)'s causal scores q . k^T / sqrt(hs); pre (T,T) is scratch. Row t
    // attends to t2 <= t ("Attention Is All You Need", eq. 1); att[t, t2 > t] = 0, so products with att
    // may run over whole row blocks. The forward pass writes each row's max and 1/sum to acts[stats];
    // the backward pass (recompute) reads them back and gets the same probabilities.
    private static void probabilities(float[] acts, int q, int C3, float[] kT, int hs, int T, float[] pre, float[] att,
                                      int stats, boolean recompute) {
        float scale = (float) (1.0 / Math.sqrt(hs));
        // pre[r0:r1, 0:r1] = q[r0:r1] . k[0:r1]^T
        for (int r0 = 0; r0 < T; r0 += TB) {
            int r1 = Math.min(T, r0 + TB);
            Sgemm.sgemmPackedB(false, r1 - r0, r1, hs, acts, q + r0 * C3, C3, kT, hs, pre, r0 * T, T, false);
        }
        if (T % L == 0) {
            for (int t = 0; t < T; t++) softmaxRow(pre, att, t * T, t + 1, T, scale, acts, stats + 2 * t, recompute);
            return;
        }
        for (int t = 0; t < T; t++) {
            int row = t * T;
            VectorRows.scale(pre, row, t + 1, scale);
            float max, rsum;
            if (recompute) {
                max = acts[stats + 2 * t];
                rsum = acts[stats + 2 * t + 1];
                VectorRows.expShifted(pre, row, att, row, t + 1, max);
            } else {
                max = VectorRows.max(pre, row, t + 1);
                rsum = 1f / VectorRows.expShifted(pre, row, att, row, t + 1, max);
                acts[stats + 2 * t] = max;
                acts[stats + 2 * t + 1] = rsum;
            }
            VectorRows.scale(att, row, t + 1, rsum);
            Arrays.fill(att, row + t + 1, row + T, 0f);
        }
    }

    /**
     * One causal row of {@link #probabilities} when T is a multiple of the vector length: the n = t + 1
     * scores of the row are whole vectors with the lanes past n masked off (-inf for the max, 0 after the
     * exp), so no element takes a scalar path. att[row + n .. row + T) = 0.
     */
    private static void softmaxRow(float[] pre, float[] att, int row, int n, int T, float scale, float[] acts,
                                   int stats, boolean recompute) {
        if (recompute) {
            recomputeRow(pre, att, row, n, scale, acts[stats], acts[stats + 1]);
        } else {
            forwardRow(pre, att, row, n, scale, acts, stats);
        }
        Arrays.fill(att, row + (n - 1) / L * L + L, row + T, 0f);
    }

    // One exp call site per method, the partial last vector masked in the same loop as the whole ones. With a
    // second copy of exp for the last vector, C2's compile of softmaxRow (which inlines these) failed to
    // intrinsify a vector store ("failed to inline (intrinsic)" under -XX:+PrintInlining) and the ops feeding it
    // ran as boxed Java fallbacks, allocating on every iteration (JFR allocation samples, after 300 steps).
    // Loop-carried vectors start from one made in the method (FloatVector.zero, broadcast), not from the static
    // ZERO or NEG_INF: with a static final first value C2 kept the loop's vector boxed, one allocation an
    // iteration (JFR allocation samples of ModelBench, one thread: ~140 MB a second in these three rows).

    // att[row .. row + n) = exp(pre * scale - max) * rsum, from the forward pass's max and rsum
    private static void recomputeRow(float[] pre, float[] att, int row, int n, float scale, float max, float rsum) {
        for (int i = 0; i < n; i += L) {
            // the masked lanes are zeroed before the multiply: a clamped exp times rsum could be subnormal (slow on x86)
            VectorMath.exp(FloatVector.fromArray(S, pre, row + i).mul(scale).sub(max))
                    .blend(ZERO, IOTA.compare(VectorOperators.GE, (float) (n - i))).mul(rsum).intoArray(att, row + i);
        }
    }

    // att[row .. row + n) = softmax(pre * scale); acts[stats], acts[stats + 1] = the max and 1/sum. Its three loops
    // are methods of their own that pass only scalars and arrays: as one method, C2's parse could pass its node
    // cutoff, and a call it then did not inline would box every vector crossing it.
    private static void forwardRow(float[] pre, float[] att, int row, int n, float scale, float[] acts, int stats) {
        float max = maxRow(pre, row, n, scale);
        float rsum = 1f / expRow(pre, att, row, n, scale, max);
        scaleRow(att, row, n, rsum);
        acts[stats] = max;
        acts[stats + 1] = rsum;
    }

    // the max of the row's n scaled scores
    private static float maxRow(float[] pre, int row, int n, float scale) {
        FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < n; i += L) {
            m = m.max(FloatVector.fromArray(S, pre, row + i).mul(scale).blend(NEG_INF, IOTA.compare(VectorOperators.GE, (float) (n - i))));
        }
        return m.reduceLanes(VectorOperators.MAX);
    }

    // att[row .. row + n) = exp(pre * scale - max), the lanes past n 0; returns their sum, in lane order
    private static float expRow(float[] pre, float[] att, int row, int n, float scale, float max) {
        FloatVector sum = FloatVector.zero(S);
        for (int i = 0; i < n; i += L) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(S, pre, row + i).mul(scale).sub(max))
                    .blend(ZERO, IOTA.compare(VectorOperators.GE, (float) (n - i)));
            e.intoArray(att, row + i);
            sum = sum.add(e);
        }
        return VectorMath.sumLanes(sum);
    }

    // att[row .. row + n) *= rsum, in whole vectors (the lanes past n are 0)
    private static void scaleRow(float[] att, int row, int n, float rsum) {
        for (int i = 0; i < n; i += L) FloatVector.fromArray(S, att, row + i).mul(rsum).intoArray(att, row + i);
    }

    /**
     * Softmax backward of one causal row in place, when T is a multiple of the vector length:
     * datt[i] = att[i] (datt[i] - sum_j att[j] datt[j]) scale for i &lt; n, and 0 from n to T.
     */
    private static void softmaxBackwardRow(float[] att, float[] datt, int row, int n, int T, float scale) {
        int last = (n - 1) / L * L;
        VectorMask<Float> past = IOTA.compare(VectorOperators.GE, (float) (n - last)); // lanes at or past n
        FloatVector dl = FloatVector.fromArray(S, datt, row + last).blend(ZERO, past);
        FloatVector acc = FloatVector.zero(S);
        for (int i = 0; i < last; i += L) acc = FloatVector.fromArray(S, att, row + i).fma(FloatVector.fromArray(S, datt, row + i), acc);
        float dot = VectorMath.sumLanes(FloatVector.fromArray(S, att, row + last).fma(dl, acc));
        for (int i = 0; i < last; i += L) {
            FloatVector.fromArray(S, att, row + i).mul(FloatVector.fromArray(S, datt, row + i).sub(dot)).mul(scale)
                    .intoArray(datt, row + i);
        }
        FloatVector.fromArray(S, att, row + last).mul(dl.sub(dot)).mul(scale).blend(ZERO, past).intoArray(datt, row + last);
        Arrays.fill(datt, row + last + L, row + T, 0f);
    }

    // dqkv = ... (overwritten); out is unused here (the cpu softmax backward takes sum(att * datt) row by row).
    // Parallel over (b, h): each pair owns its head's columns of dqkv, so there are no write races.
    static void backward(float[] dacts, int dqkvOff, int doutOff, float[] acts, int qkvOff, int statsOff,
                         int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        int C3 = 3 * C;
        Parallel.parallelForDynamic(B * NH, bh -> {
            int b = bh / NH, h = bh % NH;
            int q = qkvOff + b * T * C3 + h * hs, k = q + C, v = q + 2 * C;
            int dq = dqkvOff + b * T * C3 + h * hs, dk = dq + C, dv = dq + 2 * C;
            int dout = doutOff + b * T * C + h * hs;
            float[][] p = packed(Math.max(Sgemm.packedBSize(hs, T), Sgemm.packedBSize(T, hs)));
            float[][] s = scores(T);
            float[] att = s[1], datt = s[0]; // datt overwrites the recomputed scores, then becomes dpreatt
            for (int t = 0; t < T; t++) { // dk and dv add up over the row blocks below: they start from 0
                Arrays.fill(dacts, dk + t * C3, dk + t * C3 + hs, 0f);
                Arrays.fill(dacts, dv + t * C3, dv + t * C3 + hs, 0f);
            }
            Sgemm.packWholeB(true, hs, T, acts, k, C3, p[0]);   // k^T [hs, T]
            probabilities(acts, q, C3, p[0], hs, T, datt, att, statsOff + bh * T * 2, true);
            float[] vT = p[0], kp = p[1];
            Sgemm.packWholeB(true, hs, T, acts, v, C3, vT);   // v^T [hs, T]
            Sgemm.packWholeB(false, T, hs, acts, k, C3, kp);  // k [T, hs]
            // datt[r0:r1, 0:r1] = dout[r0:r1] . v[0:r1]^T;  dv[0:r1] += att[r0:r1, 0:r1]^T . dout[r0:r1]
            for (int r0 = 0; r0 < T; r0 += TB) {
                int r1 = Math.min(T, r0 + TB);
                Sgemm.sgemmPackedB(false, r1 - r0, r1, hs, dacts, dout + r0 * C, C, vT, hs, datt, r0 * T, T, false);
                Sgemm.sgemm(true, false, r1, hs, r1 - r0, att, r0 * T, T, dacts, dout + r0 * C, C, dacts, dv, C3, true);
            }
            // softmax backward, in place: dpre = att * (datt - sum(att * datt)), times the score scale
            for (int t = 0; t < T; t++) {
                int row = t * T;
                if (T % L == 0) {
                    softmaxBackwardRow(att, datt, row, t + 1, T, scale);
                    continue;
                }
                float dot = VectorRows.dot(att, row, datt, row, t + 1);
                for (int t2 = 0; t2 <= t; t2++) {
                    datt[row + t2] = att[row + t2] * (datt[row + t2] - dot) * scale;
                }
                Arrays.fill(datt, row + t + 1, row + T, 0f);
            }
            // dq[r0:r1] = dpre[r0:r1, 0:r1] . k[0:r1];  dk[0:r1] += dpre[r0:r1, 0:r1]^T . q[r0:r1]
            for (int r0 = 0; r0 < T; r0 += TB) {
                int r1 = Math.min(T, r0 + TB);
                Sgemm.sgemmPackedB(false, r1 - r0, hs, r1, datt, r0 * T, T, kp, T, dacts, dq + r0 * C3, C3, false);
                Sgemm.sgemm(true, false, r1, hs, r1 - r0, datt, r0 * T, T, acts, q + r0 * C3, C3, dacts, dk, C3, true);
            }
        });
    }
}
