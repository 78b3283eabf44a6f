// Fused softmax + cross-entropy over the vocabulary (llm.c softmax_forward, crossentropy_forward,
// crossentropy_softmax_backward) on the cpu.
package sparkgpt.kernels.cpu;

import sparkgpt.kernels.Parallel;

final class CrossEntropy {
    private CrossEntropy() {}

    // logits (N,V) -> probs in place; losses[n] = -log probs[n, targets[n]]
    static void forward(float[] acts, int logitsOff, float[] losses, int[] targets, int N, int V) {
        Parallel.parallelFor(N, (from, to) -> {
            for (int n = from; n < to; n++) {
                int row = logitsOff + n * V;
                float max = VectorRows.max(acts, row, V);
                float targetLogit = acts[row + targets[n]];
                float sum = VectorRows.expShifted(acts, row, acts, row, V, max);
                VectorRows.scale(acts, row, V, 1f / sum);
                // -log softmax = log(sum exp(x - max)) - (x_target - max): finite even when the
                // probability underflows to 0
                losses[n] = (float) (Math.log(sum) - (targetLogit - max));
            }
        });
    }

    // dlogits = (probs - onehot(target)) * dloss, overwriting
    static void backward(float[] dacts, int dlogitsOff, float[] acts, int probsOff, int[] targets,
                         float dloss, int N, int V) {
        Parallel.parallelFor(N, (from, to) -> {
            for (int n = from; n < to; n++) {
                int p = probsOff + n * V;
                int d = dlogitsOff + n * V;
                int target = targets[n];
                // (probs - 0) * dloss everywhere with vectors, then the target's entry: a branch
                // per element kept the loop scalar
                VectorRows.scale(acts, p, dacts, d, V, dloss);
                dacts[d + target] = (acts[p + target] - 1f) * dloss;
            }
        });
    }
}
