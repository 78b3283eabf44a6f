// Matmul with bias (llm.c matmul_forward / matmul_backward) on the cpu, through a SIMD GEMM.
package sparkgpt.kernels.cpu;

final class Matmul {
    private Matmul() {}

    // out (N,OC) = inp (N,C) . W + bias. W is [C,OC] (Hugging Face Conv1D), or [OC,C] when
    // transposed (the tied classifier: logits = x . wte^T).
    static void forward(float[] acts, int outOff, int inpOff, float[] params, int wOff, int bOff,
                        int N, int C, int OC, boolean transposed) {
        gemm(false, transposed, N, OC, C, acts, inpOff, C, params, wOff, transposed ? C : OC,
                acts, outOff, OC, false);
        if (bOff >= 0) {
            Threads.parallelFor(N, (from, to) -> {
                for (int n = from; n < to; n++) {
                    int o = outOff + n * OC;
                    for (int j = 0; j < OC; j++) acts[o + j] += params[bOff + j];
                }
            });
        }
    }

    // dinp (N,C) += dout (N,OC) . W^T; dW += inp^T . dout ([C,OC]) or dout^T . inp ([OC,C]);
    // dbias (OC) += sum over n of dout
    static void backward(float[] dacts, int dinpOff, float[] grads, int dwOff, int dbOff, int doutOff,
                         float[] acts, int inpOff, float[] params, int wOff,
                         int N, int C, int OC, boolean transposed) {
        if (transposed) {
            // W is [OC,C]: dinp = dout . W, dW = dout^T . inp
            gemm(false, false, N, C, OC, dacts, doutOff, OC, params, wOff, C, dacts, dinpOff, C, true);
            gemm(true, false, OC, C, N, dacts, doutOff, OC, acts, inpOff, C, grads, dwOff, C, true);
        } else {
            // W is [C,OC]: dinp = dout . W^T, dW = inp^T . dout
            gemm(false, true, N, C, OC, dacts, doutOff, OC, params, wOff, OC, dacts, dinpOff, C, true);
            gemm(true, false, C, OC, N, acts, inpOff, C, dacts, doutOff, OC, grads, dwOff, OC, true);
        }
        if (dbOff >= 0) {
            Threads.parallelFor(OC, (from, to) -> {
                for (int n = 0; n < N; n++) {
                    int d = doutOff + n * OC;
                    for (int j = from; j < to; j++) grads[dbOff + j] += dacts[d + j];
                }
            });
        }
    }

    // C[M,N] (+)= op(A) . op(B), row-major with row strides
    static void gemm(boolean transA, boolean transB, int M, int N, int K,
                     float[] A, int aOff, int lda, float[] B, int bOff, int ldb,
                     float[] Cm, int cOff, int ldc, boolean accumulate) {
        Threads.parallelFor(M, (from, to) -> {
            float[] row = new float[N];
            for (int i = from; i < to; i++) {
                java.util.Arrays.fill(row, 0f);
                for (int k = 0; k < K; k++) {
                    float a = transA ? A[aOff + k * lda + i] : A[aOff + i * lda + k];
                    if (transB) {
                        for (int j = 0; j < N; j++) row[j] += a * B[bOff + j * ldb + k];
                    } else {
                        int b = bOff + k * ldb;
                        for (int j = 0; j < N; j++) row[j] += a * B[b + j];
                    }
                }
                int c = cOff + i * ldc;
                for (int j = 0; j < N; j++) Cm[c + j] = accumulate ? Cm[c + j] + row[j] : row[j];
            }
        });
    }
}
