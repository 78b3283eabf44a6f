// Residual add (llm.c residual_forward) on the cpu. Its backward is no op of its own: both inputs get the
// output's gradient, so the model carries one residual-stream gradient through the layers (worker's Gpt).
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
}
