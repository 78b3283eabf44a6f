// AdamW over the flat buffers, as torch.optim.AdamW computes it.
package sparkgpt.worker.optim;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongConsumer;
import sparkgpt.kernels.Parallel;
import sparkgpt.worker.ParameterLayout;

/** The state: first and second moments in the parameter layout (torch's exp_avg, exp_avg_sq), and the step count. */
public final class AdamW implements Optimizer {

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
    private float[] m, v;
    private int step;

    public AdamW(ParameterLayout layout, Options options) {
        this.layout = layout;
        this.options = options;
        this.m = new float[layout.size()];
        this.v = new float[layout.size()];
    }

    @Override
    public String name() {
        return "adamw";
    }

    @Override
    public int step() {
        return step;
    }

    @Override
    public Map<String, float[]> state() {
        Map<String, float[]> s = new LinkedHashMap<>();
        s.put("exp_avg", m);
        s.put("exp_avg_sq", v);
        return s;
    }

    @Override
    public void restore(Map<String, float[]> state, int step) {
        for (String name : state().keySet()) {
            float[] t = state.get(name);
            if (t == null || t.length != layout.size()) {
                throw new IllegalArgumentException("AdamW state " + name + ": expected " + layout.size() + " floats, got "
                        + (t == null ? "none" : t.length));
            }
        }
        if (step < 0) throw new IllegalArgumentException("AdamW step count " + step + " < 0");
        this.m = state.get("exp_avg");
        this.v = state.get("exp_avg_sq");
        this.step = step;
    }

    /**
     * One update with learning rate lr. torch.optim.AdamW (single-tensor path):
     * p *= 1 - lr*wd (decayed tensors only); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     * p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
     */
    @Override
    public void update(float[] params, float[] grads, float lr) {
        update(params, grads, lr, written -> {});
    }

    /** Tensor by tensor in the layout's order: written hears the end of each. */
    @Override
    public void update(float[] params, float[] grads, float lr, LongConsumer written) {
        step++;
        float b1 = options.beta1(), b2 = options.beta2(), eps = options.eps();
        float[] m = this.m, v = this.v;
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
            written.accept((long) base + t.size());
        }
    }
}
