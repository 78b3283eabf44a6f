// Residual add (llm.c residual_forward / residual_backward) on the cpu.
package sparkgpt.kernels.cpu;

import sparkgpt.kernels.Parallel;

final class Residual {
    private Residual() {}

    // out = in1 + in2
    static void forward(float[] acts, int outOff, int in1Off, int in2Off, int n) {
        Parallel.parallelFor(n, (from, to) -> {
            for (int i = from; i < to; i++) acts[outOff + i] = acts[in1Off + i] + acts[in2Off + i];
        });
    }

    // din1 += dout; din2 += dout
    static void backward(float[] dacts, int din1Off, int din2Off, int doutOff, int n) {
        Parallel.parallelFor(n, (from, to) -> {
            for (int i = from; i < to; i++) {
                float d = dacts[doutOff + i];
                dacts[din1Off + i] += d;
                dacts[din2Off + i] += d;
            }
        });
    }
}
