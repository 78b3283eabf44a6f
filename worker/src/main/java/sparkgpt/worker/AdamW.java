// AdamW over the flat buffers, as torch.optim.AdamW computes it, and global-norm gradient clipping
// as torch.nn.utils.clip_grad_norm_.
package sparkgpt.worker;

import sparkgpt.kernels.cpu.Parallel;

/** The optimizer state: first and second moments in the parameter layout, and the step count. */
public final class AdamW {

    /** Hyperparameters; weight decay reaches only the tensors the layout marks as decayed (2-D weights). */
    public record Options(float beta1, float beta2, float eps, float weightDecay) {
        public Options {
            if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("beta1 must be in [0, 1), got " + beta1);
            if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("beta2 must be in [0, 1), got " + beta2);
            if (!(eps > 0)) throw new IllegalArgumentException("eps must be positive, got " + eps);
            if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight_decay must be >= 0, got " + weightDecay);
        }
    }

    private final ParameterLayout layout;
    private final Options options;
    public final float[] m, v;
    private int step;

    public AdamW(ParameterLayout layout, Options options) {
        this.layout = layout;
        this.options = options;
        this.m = new float[layout.size()];
        this.v = new float[layout.size()];
    }

    /** Steps taken so far (torch's state['step']). */
    public int step() {
        return step;
    }

    /** Restores the step count (resuming from a checkpoint, with m and v filled by the caller). */
    public void setStep(int step) {
        this.step = step;
    }

    /**
     * One update with learning rate lr. torch.optim.AdamW (single-tensor path):
     * p *= 1 - lr*wd (decayed tensors only); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     * p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
     */
    public void update(float[] params, float[] grads, float lr) {
        step++;
        float b1 = options.beta1(), b2 = options.beta2(), eps = options.eps();
        double bc1 = 1.0 - Math.pow(b1, step), bc2 = 1.0 - Math.pow(b2, step);
        float stepSize = (float) (lr / bc1);
        float bc2Sqrt = (float) Math.sqrt(bc2);
        for (ParameterLayout.Tensor t : layout.tensors()) {
            float decay = t.decay() ? 1f - lr * options.weightDecay() : 1f;
            int base = t.offset();
            Parallel.parallelFor(t.size(), (from, to) -> {
                for (int i = base + from; i < base + to; i++) {
                    float g = grads[i];
                    float p = params[i] * decay;
                    float mi = b1 * m[i] + (1f - b1) * g;  // torch: m.lerp_(g, 1-b1)
                    float vi = b2 * v[i] + (1f - b2) * g * g;
                    m[i] = mi;
                    v[i] = vi;
                    float denom = (float) Math.sqrt(vi) / bc2Sqrt + eps;
                    params[i] = p - stepSize * (mi / denom);
                }
            });
        }
    }

    /** The global L2 norm of all gradients, accumulated in double. */
    public static double gradNorm(float[] grads) {
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
        for (double s : partial) sum += s; // fixed order: deterministic
        return Math.sqrt(sum);
    }

    /**
     * torch.nn.utils.clip_grad_norm_: scales grads by min(1, maxNorm / (norm + 1e-6)) and returns
     * the norm before clipping. maxNorm &lt;= 0 disables clipping (the norm is still returned).
     */
    public static double clipGradNorm(float[] grads, double maxNorm) {
        double norm = gradNorm(grads);
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
