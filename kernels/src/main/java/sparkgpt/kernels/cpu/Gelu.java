// GELU, tanh approximation as in GPT-2 (llm.c gelu_forward / gelu_backward) on the cpu, with the Vector
// API, written as x * sigmoid(2y): the same function with one exp and one division a value, and no sign
// handling (0.5 (1 + tanh(y)) = 1 / (1 + e^{-2y})); faster here than tanh as sign(y) (1 - 2 / (e^{2|y|} + 1)).
package sparkgpt.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import sparkgpt.kernels.Parallel;

final class Gelu {
    private Gelu() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final float SCALE = (float) Math.sqrt(2.0 / Math.PI);
    static final float K = 0.044715f;
    /**
     * -2y is capped here: e^40 keeps the sigmoid above 4e-18, a normal float (a subnormal would take x86's
     * slow path), where the exact value is below float's resolution next to 1 anyway.
     */
    static final float MAX_EXPONENT = 40f;

    // out = x * s, s = sigmoid(2y) = 1 / (1 + e^{-2y}), y = sqrt(2/pi) (x + 0.044715 x^3)
    static void forward(float[] acts, int outOff, int inpOff, int n) {
        int whole = n / S.length();
        Parallel.parallelFor(whole, (from, to) -> forwardVectors(acts, outOff, inpOff, from * S.length(), to * S.length()));
        for (int i = whole * S.length(); i < n; i++) {
            float x = acts[inpOff + i];
            acts[outOff + i] = x / (1f + exp(Math.min(-2f * SCALE * ((K * x * x + 1f) * x), MAX_EXPONENT)));
        }
    }

    // The vector loops are methods of their own, the scalar tails (n not a multiple of the lanes) run after them.
    private static void forwardVectors(float[] acts, int outOff, int inpOff, int start, int end) {
        for (int i = start; i < end; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, acts, inpOff + i);
            FloatVector e = VectorMath.exp(x.mul(x).mul(K).add(1f).mul(x).mul(-2f * SCALE).min(MAX_EXPONENT));
            x.div(e.add(1f)).intoArray(acts, outOff + i);
        }
    }

    // dinp = dout * d/dx GELU(x) (overwritten) = dout * (s + 2 x s (1 - s) y'), y' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    static void backward(float[] dacts, int dinpOff, float[] acts, int inpOff, int doutOff, int n) {
        int whole = n / S.length();
        Parallel.parallelFor(whole, (from, to) ->
                backwardVectors(dacts, dinpOff, acts, inpOff, doutOff, from * S.length(), to * S.length()));
        for (int i = whole * S.length(); i < n; i++) {
            float x = acts[inpOff + i], x2 = x * x;
            float s = 1f / (1f + exp(Math.min(-2f * SCALE * ((K * x2 + 1f) * x), MAX_EXPONENT)));
            float grad = s * (1f - s) * x * ((3f * K * x2 + 1f) * (2f * SCALE)) + s;
            dacts[dinpOff + i] = grad * dacts[doutOff + i];
        }
    }

    private static void backwardVectors(float[] dacts, int dinpOff, float[] acts, int inpOff, int doutOff, int start, int end) {
        for (int i = start; i < end; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, acts, inpOff + i);
            FloatVector x2 = x.mul(x);
            FloatVector e = VectorMath.exp(x2.mul(K).add(1f).mul(x).mul(-2f * SCALE).min(MAX_EXPONENT));
            FloatVector s = FloatVector.broadcast(S, 1f).div(e.add(1f));
            FloatVector dy = x2.mul(3f * K).add(1f).mul(2f * SCALE);
            FloatVector grad = s.mul(s.neg().add(1f)).mul(x).mul(dy).add(s);
            grad.mul(FloatVector.fromArray(S, dacts, doutOff + i)).intoArray(dacts, dinpOff + i);
        }
    }

    /** The tail's e^x: StrictMath's bits do not depend on the JIT tier. */
    private static float exp(float x) {
        return (float) StrictMath.exp(x);
    }
}
