// Matmul with bias (llm.c matmul_forward / matmul_backward) on the cpu, through a SIMD GEMM.
package sparkgpt.kernels.cpu;

import sparkgpt.kernels.Parallel;

final class Matmul {
    private Matmul() {}

    // out (N,OC) = inp (N,C) . W + bias. W is [C,OC] (Hugging Face Conv1D), or [OC,C] when
    // transposed (the tied classifier: logits = x . wte^T).
    static void forward(float[] acts, int outOff, int inpOff, float[] params, int wOff, int bOff,
                        int N, int C, int OC, boolean transposed) {
        Sgemm.sgemm(false, transposed, N, OC, C, acts, inpOff, C, params, wOff, transposed ? C : OC,
                acts, outOff, OC, false);
        if (bOff >= 0) {
            Parallel.parallelFor(N, (from, to) -> {
                for (int n = from; n < to; n++) VectorRows.add(params, bOff, acts, outOff + n * OC, OC);
            });
        }
    }

    // dinp (N,C) = dout (N,OC) . W^T (overwritten); dW += inp^T . dout ([C,OC]) or dout^T . inp ([OC,C]);
    // dbias (OC) += sum over n of dout
    static void backward(float[] dacts, int dinpOff, float[] grads, int dwOff, int dbOff, int doutOff,
                         float[] acts, int inpOff, float[] params, int wOff,
                         int N, int C, int OC, boolean transposed) {
        if (transposed) {
            // W is [OC,C]: dinp = dout . W, dW = dout^T . inp
            Sgemm.sgemm(false, false, N, C, OC, dacts, doutOff, OC, params, wOff, C, dacts, dinpOff, C, false);
            Sgemm.sgemm(true, false, OC, C, N, dacts, doutOff, OC, acts, inpOff, C, grads, dwOff, C, true);
        } else {
            // W is [C,OC]: dinp = dout . W^T, dW = inp^T . dout
            Sgemm.sgemm(false, true, N, C, OC, dacts, doutOff, OC, params, wOff, OC, dacts, dinpOff, C, false);
            Sgemm.sgemm(true, false, C, OC, N, acts, inpOff, C, dacts, doutOff, OC, grads, dwOff, OC, true);
        }
        if (dbOff >= 0) {
            VectorRows.addColumnSums(dacts, doutOff, N, OC, grads, dbOff);
        }
    }
}
