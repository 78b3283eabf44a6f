// GELU, tanh approximation as in GPT-2 (llm.c gelu_forward / gelu_backward) on the cpu.
package sparkgpt.kernels.cpu;

final class Gelu {
    private Gelu() {}

    static final float SCALE = (float) Math.sqrt(2.0 / Math.PI);

    // out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    static void forward(float[] acts, int outOff, int inpOff, int n) {
        Parallel.parallelFor(n, (from, to) -> {
            for (int i = from; i < to; i++) {
                float x = acts[inpOff + i];
                float cube = 0.044715f * x * x * x;
                acts[outOff + i] = 0.5f * x * (1f + (float) Math.tanh(SCALE * (x + cube)));
            }
        });
    }

    // dinp += dout * d/dx GELU(x)
    static void backward(float[] dacts, int dinpOff, float[] acts, int inpOff, int doutOff, int n) {
        Parallel.parallelFor(n, (from, to) -> {
            for (int i = from; i < to; i++) {
                float x = acts[inpOff + i];
                float cube = 0.044715f * x * x * x;
                float tanhArg = SCALE * (x + cube);
                float tanhOut = (float) Math.tanh(tanhArg);
                float coshOut = (float) Math.cosh(tanhArg);
                float sech2 = 1f / (coshOut * coshOut);
                float grad = 0.5f * (1f + tanhOut) + x * 0.5f * sech2 * SCALE * (1f + 3f * 0.044715f * x * x);
                dacts[dinpOff + i] += grad * dacts[doutOff + i];
            }
        });
    }
}
