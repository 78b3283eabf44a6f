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
            FloatVector e = VectorMath.exp(x.mul(x).mul(K_V).add(VectorMath.ONE).mul(x).mul(MINUS_2_SCALE).min(MAX_EXPONENT_V));
            x.div(e.add(VectorMath.ONE)).intoArray(acts, outOff + i);
        }
    }

    /** Scalar operands as vectors made once (see VectorMath's constants). */
    private static final FloatVector K_V = FloatVector.broadcast(S, K), MINUS_2_SCALE = FloatVector.broadcast(S, -2f * SCALE),
            MAX_EXPONENT_V = FloatVector.broadcast(S, MAX_EXPONENT), K3 = FloatVector.broadcast(S, 3f * K),
            SCALE2 = FloatVector.broadcast(S, 2f * SCALE);

    // dinp = dout * d/dx GELU(x) (overwritten) = dout * (s + 2 x s (1 - s) y'), y' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    static void backward(float[] dacts, int dinpOff, float[] acts, int inpOff, int doutOff, int n) {
        int whole = n / S.length();
        // two passes, s into dinp and then the gradient over it: as one loop (exp and the gradient, ~45 vector
        // operations) C2's parse passed its node cutoff in some JVMs and left the loop's store to the Java fallback
        Parallel.parallelFor(whole, (from, to) -> sigmoidVectors(dacts, dinpOff, acts, inpOff, from * S.length(), to * S.length()));
        Parallel.parallelFor(whole, (from, to) ->
                backwardVectors(dacts, dinpOff, acts, inpOff, doutOff, from * S.length(), to * S.length()));
        for (int i = whole * S.length(); i < n; i++) {
            float x = acts[inpOff + i], x2 = x * x;
            float s = 1f / (1f + exp(Math.min(-2f * SCALE * ((K * x2 + 1f) * x), MAX_EXPONENT)));
            float grad = s * (1f - s) * x * ((3f * K * x2 + 1f) * (2f * SCALE)) + s;
            dacts[dinpOff + i] = grad * dacts[doutOff + i];
        }
    }

    // s = sigmoid(2y) into dinp
    private static void sigmoidVectors(float[] dacts, int dinpOff, float[] acts, int inpOff, int start, int end) {
        for (int i = start; i < end; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, acts, inpOff + i);
            FloatVector e = VectorMath.exp(x.mul(x).mul(K_V).add(VectorMath.ONE).mul(x).mul(MINUS_2_SCALE).min(MAX_EXPONENT_V));
            VectorMath.ONE.div(e.add(VectorMath.ONE)).intoArray(dacts, dinpOff + i);
        }
    }

    // dinp = dout * (s + 2 x s (1 - s) y'), s read from dinp
    private static void backwardVectors(float[] dacts, int dinpOff, float[] acts, int inpOff, int doutOff, int start, int end) {
        for (int i = start; i < end; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, acts, inpOff + i);
            FloatVector s = FloatVector.fromArray(S, dacts, dinpOff + i);
            FloatVector dy = x.mul(x).mul(K3).add(VectorMath.ONE).mul(SCALE2);
            FloatVector grad = s.mul(VectorMath.ONE.sub(s)).mul(x).mul(dy).add(s);
            grad.mul(FloatVector.fromArray(S, dacts, doutOff + i)).intoArray(dacts, dinpOff + i);
        }
    }

    /** The tail's e^x: StrictMath's bits do not depend on the JIT tier. */
    private static float exp(float x) {
        return (float) StrictMath.exp(x);
    }
}
