// LayerNorm over the channel dimension (llm.c layernorm_forward / layernorm_backward) on the cpu.
package sparkgpt.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import sparkgpt.kernels.Parallel;

final class LayerNorm {
    private LayerNorm() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    static final float EPS = 1e-5f; // GPT-2's layer_norm_epsilon


    // out (N,C) = (inp - mean) * rstd * weight + bias; mean and rstd (N) are kept for the backward
    static void forward(float[] acts, int outOff, int meanOff, int rstdOff, int inpOff,
                        float[] params, int wOff, int bOff, int N, int C) {
        Parallel.parallelFor(N, (from, to) -> {
            for (int n = from; n < to; n++) {
                int x = inpOff + n * C;
                // sums over lanes, then the lanes in a fixed order (VectorMath.sumLanes), so the
                // result does not depend on whether the loop has been compiled
                int i = 0;
                FloatVector acc = FloatVector.zero(S);
                for (; i + L <= C; i += L) acc = acc.add(FloatVector.fromArray(S, acts, x + i));
                float m = VectorMath.sumLanes(acc);
                for (; i < C; i++) m += acts[x + i];
                m /= C;
                acc = FloatVector.zero(S);
                for (i = 0; i + L <= C; i += L) {
                    FloatVector d = FloatVector.fromArray(S, acts, x + i).sub(m);
                    acc = d.fma(d, acc);
                }
                float v = VectorMath.sumLanes(acc);
                for (; i < C; i++) {
                    float d = acts[x + i] - m;
                    v += d * d;
                }
                v /= C;
                float s = (float) (1.0 / Math.sqrt(v + EPS));
                int o = outOff + n * C;
                for (i = 0; i + L <= C; i += L) {
                    FloatVector.fromArray(S, acts, x + i).sub(m).mul(s).mul(FloatVector.fromArray(S, params, wOff + i))
                            .add(FloatVector.fromArray(S, params, bOff + i)).intoArray(acts, o + i);
                }
                for (; i < C; i++) {
                    acts[o + i] = s * (acts[x + i] - m) * params[wOff + i] + params[bOff + i];
                }
                acts[meanOff + n] = m;
                acts[rstdOff + n] = s;
            }
        });
    }

    // dinp += rstd * (w*dout - mean(w*dout) - norm * mean(w*dout*norm)); dweight += sum_n norm*dout; dbias += sum_n dout
    static void backward(float[] dacts, int dinpOff, float[] grads, int dwOff, int dbOff, int doutOff,
                         float[] acts, int inpOff, float[] params, int wOff, int meanOff, int rstdOff, int N, int C) {
        // dinp: rows are independent
        Parallel.parallelFor(N, (from, to) -> {
            for (int n = from; n < to; n++) {
                int x = inpOff + n * C;
                int d = doutOff + n * C;
                float m = acts[meanOff + n];
                float s = acts[rstdOff + n];
                FloatVector accMean = FloatVector.zero(S), accNorm = FloatVector.zero(S);
                int i = 0;
                for (; i + L <= C; i += L) {
                    FloatVector norm = FloatVector.fromArray(S, acts, x + i).sub(m).mul(s);
                    FloatVector dnorm = FloatVector.fromArray(S, params, wOff + i).mul(FloatVector.fromArray(S, dacts, d + i));
                    accMean = accMean.add(dnorm);
                    accNorm = dnorm.fma(norm, accNorm);
                }
                float dnormMean = VectorMath.sumLanes(accMean), dnormNormMean = VectorMath.sumLanes(accNorm);
                for (; i < C; i++) {
                    float norm = (acts[x + i] - m) * s;
                    float dnorm = params[wOff + i] * dacts[d + i];
                    dnormMean += dnorm;
                    dnormNormMean += dnorm * norm;
                }
                dnormMean /= C;
                dnormNormMean /= C;
                int o = dinpOff + n * C;
                for (i = 0; i + L <= C; i += L) {
                    FloatVector norm = FloatVector.fromArray(S, acts, x + i).sub(m).mul(s);
                    FloatVector dnorm = FloatVector.fromArray(S, params, wOff + i).mul(FloatVector.fromArray(S, dacts, d + i));
                    FloatVector.fromArray(S, dacts, o + i)
                            .add(dnorm.sub(dnormMean).sub(norm.mul(dnormNormMean)).mul(s)).intoArray(dacts, o + i);
                }
                for (; i < C; i++) {
                    float norm = (acts[x + i] - m) * s;
                    float dnorm = params[wOff + i] * dacts[d + i];
                    dacts[o + i] += (dnorm - dnormMean - norm * dnormNormMean) * s;
                }
            }
        });
        // dweight, dbias: reduce over rows, split by channel so each element has one writer; a thread sums
        // its channels a few vectors at a time in registers, row after row in order (the same additions,
        // in the same order, as one row at a time into grads)
        int lanes = C / L;
        Parallel.parallelFor(lanes, (from, to) -> {
            int v = from;
            for (; v + 4 <= to; v += 4) weightGrads4(dacts, grads, dwOff, dbOff, doutOff, acts, inpOff, meanOff, rstdOff, N, C, v * L);
            for (; v < to; v++) weightGrads1(dacts, grads, dwOff, dbOff, doutOff, acts, inpOff, meanOff, rstdOff, N, C, v * L);
        });
        for (int n = 0; n < N; n++) { // the channels past the last whole vector
            int x = inpOff + n * C, d = doutOff + n * C;
            float m = acts[meanOff + n], s = acts[rstdOff + n];
            for (int i = lanes * L; i < C; i++) {
                float norm = (acts[x + i] - m) * s;
                grads[dwOff + i] += norm * dacts[d + i];
                grads[dbOff + i] += dacts[d + i];
            }
        }
    }

    // dweight, dbias of channels [c, c + 4L): 8 accumulators in registers over all rows
    private static void weightGrads4(float[] dacts, float[] grads, int dwOff, int dbOff, int doutOff, float[] acts,
                                     int inpOff, int meanOff, int rstdOff, int N, int C, int c) {
        FloatVector w0 = FloatVector.fromArray(S, grads, dwOff + c), w1 = FloatVector.fromArray(S, grads, dwOff + c + L),
                w2 = FloatVector.fromArray(S, grads, dwOff + c + 2 * L), w3 = FloatVector.fromArray(S, grads, dwOff + c + 3 * L);
        FloatVector b0 = FloatVector.fromArray(S, grads, dbOff + c), b1 = FloatVector.fromArray(S, grads, dbOff + c + L),
                b2 = FloatVector.fromArray(S, grads, dbOff + c + 2 * L), b3 = FloatVector.fromArray(S, grads, dbOff + c + 3 * L);
        for (int n = 0; n < N; n++) {
            int x = inpOff + n * C + c, d = doutOff + n * C + c;
            float m = acts[meanOff + n], s = acts[rstdOff + n];
            FloatVector d0 = FloatVector.fromArray(S, dacts, d), d1 = FloatVector.fromArray(S, dacts, d + L),
                    d2 = FloatVector.fromArray(S, dacts, d + 2 * L), d3 = FloatVector.fromArray(S, dacts, d + 3 * L);
            w0 = w0.add(FloatVector.fromArray(S, acts, x).sub(m).mul(s).mul(d0));
            w1 = w1.add(FloatVector.fromArray(S, acts, x + L).sub(m).mul(s).mul(d1));
            w2 = w2.add(FloatVector.fromArray(S, acts, x + 2 * L).sub(m).mul(s).mul(d2));
            w3 = w3.add(FloatVector.fromArray(S, acts, x + 3 * L).sub(m).mul(s).mul(d3));
            b0 = b0.add(d0);
            b1 = b1.add(d1);
            b2 = b2.add(d2);
            b3 = b3.add(d3);
        }
        w0.intoArray(grads, dwOff + c);
        w1.intoArray(grads, dwOff + c + L);
        w2.intoArray(grads, dwOff + c + 2 * L);
        w3.intoArray(grads, dwOff + c + 3 * L);
        b0.intoArray(grads, dbOff + c);
        b1.intoArray(grads, dbOff + c + L);
        b2.intoArray(grads, dbOff + c + 2 * L);
        b3.intoArray(grads, dbOff + c + 3 * L);
    }

    // the same for the channels [c, c + L)
    private static void weightGrads1(float[] dacts, float[] grads, int dwOff, int dbOff, int doutOff, float[] acts,
                                     int inpOff, int meanOff, int rstdOff, int N, int C, int c) {
        FloatVector w = FloatVector.fromArray(S, grads, dwOff + c), b = FloatVector.fromArray(S, grads, dbOff + c);
        for (int n = 0; n < N; n++) {
            FloatVector d = FloatVector.fromArray(S, dacts, doutOff + n * C + c);
            w = w.add(FloatVector.fromArray(S, acts, inpOff + n * C + c).sub(acts[meanOff + n]).mul(acts[rstdOff + n]).mul(d));
            b = b.add(d);
        }
        w.intoArray(grads, dwOff + c);
        b.intoArray(grads, dbOff + c);
    }
}
