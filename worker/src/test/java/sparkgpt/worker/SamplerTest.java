// Sampling: greedy decoding equals the argmax of a full forward pass; seeds reproduce; top_k restricts.
package sparkgpt.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import sparkgpt.kernels.cpu.CpuBackend;

class SamplerTest {
    final GptConfig cfg = new GptConfig(2, 2, 16, 8, 37);

    Gpt model() {
        Gpt m = new Gpt(cfg, 1, new CpuBackend());
        m.initialize(5);
        // larger weights so that distributions are far from uniform
        float[] w = m.parameters();
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < w.length; i++) w[i] += (float) (0.5 * r.nextGaussian());
        m.paramsChanged();
        return m;
    }

    @Test
    void greedyMatchesArgmaxOfFullForwardAndCropsToTheBlock() {
        try (Gpt m = model(); Gpt check = model()) {
            int[] prompt = {3, 1, 4};
            List<Integer> streamed = new ArrayList<>();
            int[] out = new Sampler(m, 0).generate(prompt, 12, 0f, 0, streamed::add); // 15 > block_size 8
            assertEquals(15, out.length);
            assertArrayEquals(prompt, java.util.Arrays.copyOf(out, 3));
            for (int i = 3; i < out.length; i++) {
                assertEquals(out[i], (int) streamed.get(i - 3));
                // independently: the last <= 8 tokens before i, placed at the start of the window
                int start = Math.max(0, i - 8);
                int[] window = new int[8];
                System.arraycopy(out, start, window, 0, i - start);
                check.forward(window, null, 0);
                float[] acts = check.logits();
                int base = check.acts.logits + (i - start - 1) * 37, best = 0;
                for (int v = 1; v < 37; v++) if (acts[base + v] > acts[base + best]) best = v;
                assertEquals(best, out[i], "token " + i);
            }
        }
    }

    @Test
    void sameSeedSameTextAndTopOneIsGreedy() {
        try (Gpt m = model()) {
            int[] p = {7};
            int[] a = new Sampler(m, 42).generate(p, 20, 1.0f, 0, t -> {});
            int[] b = new Sampler(m, 42).generate(p, 20, 1.0f, 0, t -> {});
            int[] c = new Sampler(m, 43).generate(p, 20, 1.0f, 0, t -> {});
            assertArrayEquals(a, b);
            assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(c));
            int[] greedy = new Sampler(m, 1).generate(p, 10, 0f, 0, t -> {});
            int[] top1 = new Sampler(m, 2).generate(p, 10, 1.5f, 1, t -> {});
            assertArrayEquals(greedy, top1);
            for (int t : a) assertTrue(t >= 0 && t < 37);
        }
    }
}
