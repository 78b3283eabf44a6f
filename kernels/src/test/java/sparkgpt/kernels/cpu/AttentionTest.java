// The cpu attention (row-blocked GEMMs) against llm.c's plain loops, at T spanning several blocks: one T
// that is a multiple of the vector length (whole-vector softmax rows, masked last lanes) and one that is not.
package sparkgpt.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class AttentionTest {
    static final int B = 2, C = 24, NH = 3, HS = C / NH;

    @Test
    void forwardAndBackwardMatchPlainLoops() {
        // 150: two full blocks of 64 and a ragged one, not a multiple of 16 or 8 lanes; 160: a multiple of both
        for (int T : new int[] {150, 160}) forwardAndBackwardMatchPlainLoops(T);
    }

    private static void forwardAndBackwardMatchPlainLoops(int T) {
        Random r = new Random(3);
        int qkvN = B * T * 3 * C, statsN = 2 * B * NH * T, outN = B * T * C;
        // acts: [qkv | stats | out]
        float[] acts = new float[qkvN + statsN + outN];
        for (int i = 0; i < qkvN; i++) acts[i] = (float) r.nextGaussian();
        int stats = qkvN, out = stats + statsN;
        Attention.forward(acts, out, stats, 0, B, T, C, NH);
        // dacts: [dqkv | dout]; dqkv starts nonzero: the backward overwrites it
        float[] dacts = new float[qkvN + outN];
        int dout = qkvN;
        for (int i = 0; i < dacts.length; i++) dacts[i] = (float) r.nextGaussian();
        Attention.backward(dacts, 0, dout, acts, 0, stats, B, T, C, NH);
        double[] refOut = new double[outN], refDqkv = new double[qkvN];
        reference(T, acts, dacts, dout, refOut, refDqkv);
        for (int i = 0; i < outN; i++) close("T=" + T + " out", i, acts[out + i], refOut[i]);
        for (int i = 0; i < qkvN; i++) close("T=" + T + " dqkv", i, dacts[i], refDqkv[i]);
    }

    static void close(String what, int i, float got, double ref) {
        assertTrue(Math.abs(got - ref) <= 1e-4 * Math.max(1, Math.abs(ref)), what + "[" + i + "]: " + got + " vs " + ref);
    }

    // llm.c attention_forward / attention_backward, in double
    static void reference(int T, float[] acts, float[] dacts, int doutOff, double[] out, double[] dqkv) {
        int C3 = 3 * C;
        double scale = 1 / Math.sqrt(HS);
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                for (int t = 0; t < T; t++) {
                    double[] a = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int t2 = 0; t2 <= t; t2++) {
                        double d = 0;
                        for (int i = 0; i < HS; i++) d += acts[(b * T + t) * C3 + h * HS + i] * acts[(b * T + t2) * C3 + C + h * HS + i];
                        a[t2] = d * scale;
                        max = Math.max(max, a[t2]);
                    }
                    for (int t2 = 0; t2 <= t; t2++) sum += a[t2] = Math.exp(a[t2] - max);
                    for (int t2 = 0; t2 <= t; t2++) a[t2] /= sum;
                    int o = (b * T + t) * C + h * HS;
                    for (int t2 = 0; t2 <= t; t2++)
                        for (int i = 0; i < HS; i++) out[o + i] += a[t2] * acts[(b * T + t2) * C3 + 2 * C + h * HS + i];
                    // backward
                    double[] da = new double[t + 1];
                    for (int t2 = 0; t2 <= t; t2++) {
                        for (int i = 0; i < HS; i++) {
                            double g = dacts[doutOff + o + i];
                            da[t2] += acts[(b * T + t2) * C3 + 2 * C + h * HS + i] * g;
                            dqkv[(b * T + t2) * C3 + 2 * C + h * HS + i] += a[t2] * g;
                        }
                    }
                    double dot = 0;
                    for (int t2 = 0; t2 <= t; t2++) dot += a[t2] * da[t2];
                    for (int t2 = 0; t2 <= t; t2++) {
                        double dp = a[t2] * (da[t2] - dot) * scale;
                        for (int i = 0; i < HS; i++) {
                            dqkv[(b * T + t) * C3 + h * HS + i] += dp * acts[(b * T + t2) * C3 + C + h * HS + i];
                            dqkv[(b * T + t2) * C3 + C + h * HS + i] += dp * acts[(b * T + t) * C3 + h * HS + i];
                        }
                    }
                }
            }
        }
    }
}
