// The aggregated gradient does not depend on the order or grouping in which partials are combined.
package sparkgpt.driver;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class GradientSumTest {

    static GradientStep.Partial partial(int p, long seed) {
        Random r = new Random(seed + p);
        float[] g = new float[257];
        for (int i = 0; i < g.length; i++) g[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(8) - 4));
        return new GradientStep.Partial(p, r.nextDouble() * 1e3, new float[][] {g}, p, 0, 0, 0);
    }

    /** Combines the partials as a random tree of seqOp/combOp in a random order. */
    static GradientSum randomTree(int partitions, Random order) {
        List<GradientSum> pending = new ArrayList<>();
        List<Integer> ps = new ArrayList<>();
        for (int p = 0; p < partitions; p++) ps.add(p);
        Collections.shuffle(ps, order);
        for (int p : ps) pending.add(GradientSum.add(new GradientSum(), partial(p, 7)));
        while (pending.size() > 1) {
            GradientSum a = pending.remove(order.nextInt(pending.size()));
            GradientSum b = pending.remove(order.nextInt(pending.size()));
            pending.add(order.nextBoolean() ? GradientSum.merge(a, b) : GradientSum.merge(b, a));
        }
        return pending.get(0);
    }

    @Test
    void sameBitsWhateverTheCombineOrder() {
        for (int partitions : new int[] {1, 2, 3, 5, 8, 13}) {
            GradientSum first = randomTree(partitions, new Random(1));
            float[] expected = first.gradients()[0].clone();
            double loss = first.lossSum();
            assertEquals(partitions, first.partitions());
            for (int trial = 2; trial < 12; trial++) {
                GradientSum s = randomTree(partitions, new Random(trial));
                assertArrayEquals(expected, s.gradients()[0], "partitions " + partitions + ", order " + trial);
                assertEquals(loss, s.lossSum(), 0.0);
            }
        }
    }

    @Test
    void naiveSumsInAnotherOrderDiffer() {
        // the reason for GradientSum: a left-to-right float sum in another order changes bits
        float[][] g = new float[8][];
        for (int p = 0; p < 8; p++) g[p] = partial(p, 7).grads[0];
        float[] forward = new float[257], backward = new float[257];
        for (int p = 0; p < 8; p++) for (int i = 0; i < 257; i++) forward[i] += g[p][i];
        for (int p = 7; p >= 0; p--) for (int i = 0; i < 257; i++) backward[i] += g[p][i];
        assertNotEquals(java.util.Arrays.toString(forward), java.util.Arrays.toString(backward));
    }
}
