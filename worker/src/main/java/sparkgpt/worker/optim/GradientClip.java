// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_ computes it, over the flat gradient.
package sparkgpt.worker.optim;

import sparkgpt.kernels.Parallel;

public final class GradientClip {
    private GradientClip() {}

    /** The global L2 norm of all gradients, accumulated in double in a fixed order (deterministic). */
    public static double norm(float[] grads) {
        int parts = Parallel.threads();
        double[] partial = new double[parts];
        int chunk = (grads.length + parts - 1) / parts;
        Parallel.parallelFor(parts, (from, to) -> {
            for (int p = from; p < to; p++) {
                double s = 0;
                int end = Math.min(grads.length, (p + 1) * chunk);
                for (int i = p * chunk; i < end; i++) s += (double) grads[i] * grads[i];
                partial[p] = s;
            }
        });
        double sum = 0;
        for (double s : partial) sum += s;
        return Math.sqrt(sum);
    }

    /**
     * torch.nn.utils.clip_grad_norm_: scales grads by min(1, maxNorm / (norm + 1e-6)) and returns the norm
     * before clipping. maxNorm &lt;= 0 disables clipping (the norm is still returned).
     */
    public static double clip(float[] grads, double maxNorm) {
        double norm = norm(grads);
        if (maxNorm > 0) {
            float coef = (float) Math.min(1.0, maxNorm / (norm + 1e-6));
            if (coef < 1f) {
                Parallel.parallelFor(grads.length, (from, to) -> {
                    for (int i = from; i < to; i++) grads[i] *= coef;
                });
            }
        }
        return norm;
    }
}
