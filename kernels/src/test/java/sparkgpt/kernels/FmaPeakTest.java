// FmaPeak: the FMA chains compute what their formula says, and the measured peak is a plausible figure for
// this CPU (positive, finite, under a bound no core reaches) on the Vector API's preferred width.
package sparkgpt.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class FmaPeakTest {

    /** The chains' sum, in double: chain k starts at c + k and steps acc = acc * 0.999 + c, in every lane. */
    private static double expected(int n, float c) {
        double sum = 0;
        for (int k = 0; k < FmaPeak.CHAINS; k++) {
            double acc = (float) (c + k);
            for (int i = 0; i < n; i++) acc = acc * 0.999f + c;
            sum += acc;
        }
        return sum * FloatVector.SPECIES_PREFERRED.length();
    }

    @Test
    void chainsComputeTheirRecurrence() {
        for (int n : new int[] {0, 1, 7, 1000}) {
            double want = expected(n, 0.5f);
            assertEquals(want, FmaPeak.chains(n, 0.5f), 2e-4 * Math.abs(want), "n = " + n); // fp32 rounding, bounded by eps / (1 - b)
        }
        // converges to lanes x CHAINS x c / (1 - b): finite however long it runs
        double limit = FloatVector.SPECIES_PREFERRED.length() * FmaPeak.CHAINS * 0.5 / (1 - 0.999f);
        assertEquals(limit, FmaPeak.chains(200_000, 0.5f), 1e-3 * limit);
    }

    @Test
    void measuredPeakIsPhysical() {
        FmaPeak.Result r = FmaPeak.measure(3);
        int lanes = FloatVector.SPECIES_PREFERRED.length();
        assertEquals(lanes, r.lanes());
        assertEquals(Parallel.threads(), r.threads());
        assertEquals(3, r.repetitions().length);
        // no core runs more than 2 FMA units at 6 GHz: threads x 2 units x lanes x 2 flops x 6e9
        double bound = r.threads() * 2.0 * lanes * 2 * 6e9;
        assertTrue(Double.isFinite(r.flops()) && r.flops() > 0 && r.flops() < bound,
                r.flops() + " FLOP/s against the bound " + bound);
        for (double f : r.repetitions()) assertTrue(f > 0 && f <= r.flops(), f + " vs best " + r.flops());
        assertTrue(r.describe().startsWith("the measured FMA peak of ") && r.describe().contains(lanes + " fp32 lanes"),
                r.describe());
    }

    @Test
    void getMeasuresOnce() {
        assertSame(FmaPeak.get(), FmaPeak.get());
    }

    @Test
    void repetitionsMustBePositive() {
        assertThrows(IllegalArgumentException.class, () -> FmaPeak.measure(0));
    }
}
