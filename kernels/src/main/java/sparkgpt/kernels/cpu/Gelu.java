// GELU, tanh approximation as in GPT-2 (llm.c gelu_forward / gelu_backward) on the cpu, with
// the Vector API and VectorMath.tanh (Math.tanh per element was 5x slower).
package sparkgpt.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import sparkgpt.kernels.Parallel;

final class Gelu {
    private Gelu() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final float SCALE = (float) Math.sqrt(2.0 / Math.PI);
    static final float K = 0.044715f;

    // out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    static void forward(float[] acts, int outOff, int inpOff, int n) {
        Parallel.parallelFor((n + S.length() - 1) / S.length(), (from, to) -> {
            int start = from * S.length(), end = Math.min(n, to * S.length());
            int i = start;
            for (; i + S.length() <= end; i += S.length()) {
                FloatVector x = FloatVector.fromArray(S, acts, inpOff + i);
                FloatVector inner = x.mul(x).mul(x).mul(K).add(x).mul(SCALE);
                FloatVector th = VectorMath.tanh(inner);
                x.mul(0.5f).mul(th.add(1f)).intoArray(acts, outOff + i);
            }
            for (; i < end; i++) {
                float x = acts[inpOff + i];
                acts[outOff + i] = 0.5f * x * (1f + (float) Math.tanh(SCALE * (x + K * x * x * x)));
            }
        });
    }

    // dinp += dout * d/dx GELU(x), with sech^2 = 1 - tanh^2
    static void backward(float[] dacts, int dinpOff, float[] acts, int inpOff, int doutOff, int n) {
        Parallel.parallelFor((n + S.length() - 1) / S.length(), (from, to) -> {
            int start = from * S.length(), end = Math.min(n, to * S.length());
            int i = start;
            for (; i + S.length() <= end; i += S.length()) {
                FloatVector x = FloatVector.fromArray(S, acts, inpOff + i);
                FloatVector x2 = x.mul(x);
                FloatVector th = VectorMath.tanh(x2.mul(K).add(1f).mul(x).mul(SCALE));
                FloatVector sech2 = th.mul(th).neg().add(1f);
                FloatVector dInner = x2.mul(3f * K).add(1f).mul(SCALE);
                FloatVector grad = th.add(1f).mul(0.5f).add(x.mul(0.5f).mul(sech2).mul(dInner));
                FloatVector d = FloatVector.fromArray(S, dacts, doutOff + i);
                FloatVector.fromArray(S, dacts, dinpOff + i).add(grad.mul(d)).intoArray(dacts, dinpOff + i);
            }
            for (; i < end; i++) {
                float x = acts[inpOff + i];
                float th = (float) Math.tanh(SCALE * (x + K * x * x * x));
                float sech2 = 1f - th * th;
                float grad = 0.5f * (1f + th) + x * 0.5f * sech2 * SCALE * (1f + 3f * K * x * x);
                dacts[dinpOff + i] += grad * dacts[doutOff + i];
            }
        });
    }
}
