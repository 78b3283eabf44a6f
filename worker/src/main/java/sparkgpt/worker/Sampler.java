// Autoregressive sampling from a model: temperature and top-k, as nanoGPT's generate().
package sparkgpt.worker;

import java.util.Arrays;
import java.util.Random;
import java.util.function.IntConsumer;

/**
 * Generates one token at a time from a {@link Gpt} built with micro-batch size 1. The context is
 * the last block_size tokens; a shorter context is padded after its end, which causal attention
 * never lets earlier positions see, and the next token is read from the logits of its last position.
 */
public final class Sampler {
    private final Gpt model;
    private final Random random;

    public Sampler(Gpt model, long seed) {
        if (model.batchSize != 1) throw new IllegalArgumentException("sampling needs a model with micro-batch size 1");
        this.model = model;
        this.random = new Random(seed);
    }

    /**
     * Appends maxNewTokens tokens to prompt, calling onToken with each as it is chosen.
     *
     * @param temperature logits are divided by it; 0 picks the most likely token (greedy)
     * @param topK        keep only the k most likely tokens (0 = all)
     */
    public int[] generate(int[] prompt, int maxNewTokens, float temperature, int topK, IntConsumer onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt must have at least one token");
        if (temperature < 0) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        int T = model.config.blockSize(), V = model.config.vocabSize();
        int[] seq = Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        int len = prompt.length;
        int[] window = new int[T];
        float[] logits = new float[V];
        for (int n = 0; n < maxNewTokens; n++) {
            int start = Math.max(0, len - T), count = len - start;
            Arrays.fill(window, 0);
            System.arraycopy(seq, start, window, 0, count);
            model.forward(window, null, 0);
            float[] acts = model.logits();
            System.arraycopy(acts, model.acts.logits + (count - 1) * V, logits, 0, V);
            int next = temperature == 0 ? argmax(logits) : sample(logits, temperature, topK);
            seq[len++] = next;
            onToken.accept(next);
        }
        return seq;
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private int sample(float[] logits, float temperature, int topK) {
        int V = logits.length;
        float cutoff = Float.NEGATIVE_INFINITY;
        if (topK > 0 && topK < V) {
            float[] sorted = logits.clone();
            Arrays.sort(sorted);
            cutoff = sorted[V - topK]; // the k-th largest; ties at the cutoff are kept, as torch.topk + masking does
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) if (l >= cutoff) max = Math.max(max, l / temperature);
        double[] p = new double[V];
        double sum = 0;
        for (int i = 0; i < V; i++) {
            if (logits[i] >= cutoff) {
                p[i] = Math.exp(logits[i] / temperature - max);
                sum += p[i];
            }
        }
        double u = random.nextDouble() * sum;
        for (int i = 0; i < V; i++) {
            u -= p[i];
            if (u < 0 && p[i] > 0) return i;
        }
        for (int i = V - 1; i >= 0; i--) if (p[i] > 0) return i; // rounding left u just above 0
        throw new IllegalStateException("no token to sample");
    }
}
