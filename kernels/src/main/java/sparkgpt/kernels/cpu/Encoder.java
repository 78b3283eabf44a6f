// Token + position embedding (llm.c encoder_forward / encoder_backward) on the cpu.
package sparkgpt.kernels.cpu;

import sparkgpt.kernels.Parallel;

final class Encoder {
    private Encoder() {}

    // out is (B,T,C): out[b,t,:] = wte[inp[b,t],:] + wpe[t,:]; wte is (V,C), wpe is (maxT,C)
    static void forward(float[] out, int outOff, int[] inp, float[] params, int wteOff, int wpeOff,
                        int B, int T, int C) {
        Parallel.parallelFor(B * T, (from, to) -> {
            for (int bt = from; bt < to; bt++) {
                int t = bt % T;
                int o = outOff + bt * C;
                int w = wteOff + inp[bt] * C;
                int p = wpeOff + t * C;
                for (int i = 0; i < C; i++) {
                    out[o + i] = params[w + i] + params[p + i];
                }
            }
        });
    }

    // dwte[inp[b,t],:] += dout[b,t,:]; dwpe[t,:] += dout[b,t,:].
    // Parallel over channels, so no two threads ever add into the same element (no atomics),
    // and each element receives its contributions in (b,t) order: the result is deterministic.
    static void backward(float[] grads, int dwteOff, int dwpeOff, float[] dacts, int doutOff, int[] inp,
                         int B, int T, int C) {
        Parallel.parallelFor(C, (from, to) -> {
            for (int bt = 0; bt < B * T; bt++) {
                int t = bt % T;
                int d = doutOff + bt * C;
                int w = dwteOff + inp[bt] * C;
                int p = dwpeOff + t * C;
                for (int i = from; i < to; i++) {
                    float g = dacts[d + i];
                    grads[w + i] += g;
                    grads[p + i] += g;
                }
            }
        });
    }
}
