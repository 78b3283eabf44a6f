// Measures this CPU's fp32 FMA peak (FLOP/s) with the Vector API: the denominator of MFU for the cpu
// device, measured instead of taken from a datasheet. Usage: FmaPeak [repetitions=5].
package sparkgpt.kernels;

import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.locks.LockSupport;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Every thread of {@link Parallel} runs {@link #CHAINS} independent chains {@code acc = acc * b + c} of FMAs on
 * {@code SPECIES_PREFERRED} vectors, with no loads or stores in the loop, all threads at once, timed in short
 * windows; a thread's rate is its best window, the peak the sum of the threads' rates. A core with 2 FMA units
 * of 4-cycle latency needs 8 chains in flight to issue an FMA on both units every cycle; 12 leave slack for the
 * loop's own instructions. One FMA is 2 flops per lane, so a window does lanes x 2 x CHAINS x iterations flops,
 * and the peak is expected near cores x 2 FMA units x lanes x 2 x GHz (2 x 2 x 16 x 2 x 2.6 GHz = 332.8 GFLOP/s
 * on a 2-core AVX-512 CPU). With b in (0, 1) each chain converges to c / (1 - b): no overflow, no denormals.
 * The sum assumes one thread per core; where the pool's threads are SMT siblings and the other programs leave
 * one sibling alone for a window, that thread's best window holds the whole core and the sum can overstate.
 */
public final class FmaPeak {
    private FmaPeak() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    /** Independent accumulators per thread: more than FMA latency x FMA units (4 x 2). */
    static final int CHAINS = 12;

    /**
     * Iterations in one timed window of one thread: ~1.5 ms at 2.1 GHz, shorter than a scheduler time slice, so
     * that on cores shared with other programs some windows run uninterrupted.
     */
    private static final int WINDOW = 500_000;

    /** Windows per thread in one repetition; a thread's rate is its best window. */
    private static final int WINDOWS = 4;

    /**
     * The measured peak: the best of the repetitions, and each repetition's FLOP/s (the sum over the threads,
     * running at once, of each one's best window).
     */
    public record Result(double flops, int threads, int lanes, double[] repetitions) {
        /** How reports name it, e.g. "the measured FMA peak of 310.2 GFLOP/s (2 threads, 16 fp32 lanes)". */
        public String describe() {
            return String.format(Locale.ROOT, "the measured FMA peak of %.1f GFLOP/s (%d threads, %d fp32 lanes)",
                    flops / 1e9, threads, lanes);
        }
    }

    /** Memoized: the peak of this JVM, measured once (0.3-1 s) on the first call. */
    private static Result measured;

    /** The peak of this machine, measured on the first call and remembered. */
    public static synchronized Result get() {
        if (measured == null) measured = measure(5);
        return measured;
    }

    /** Warms the kernel up, then times {@code repetitions} runs on all of {@link Parallel}'s threads. */
    public static Result measure(int repetitions) {
        if (repetitions < 1) throw new IllegalArgumentException("repetitions must be positive, got " + repetitions);
        warmUp();
        int threads = Parallel.threads();
        double[] flops = new double[repetitions];
        double[] best = new double[threads]; // per thread: its best window's FLOP/s in this repetition
        float[] sink = new float[threads];
        for (int r = 0; r < repetitions; r++) {
            Arrays.fill(best, 0);
            Parallel.parallelFor(threads, (start, end) -> {
                for (int t = start; t < end; t++) {
                    for (int w = 0; w < WINDOWS; w++) {
                        long t0 = System.nanoTime();
                        sink[t] += chains(WINDOW, 0.5f + t * 1e-3f);
                        double seconds = (System.nanoTime() - t0) / 1e9;
                        best[t] = Math.max(best[t], (double) S.length() * 2 * CHAINS * WINDOW / seconds);
                    }
                }
            });
            flops[r] = Arrays.stream(best).sum();
        }
        if (!Float.isFinite(sum(sink))) throw new IllegalStateException("FMA chains diverged: " + Arrays.toString(sink));
        // the best repetition: in the others some thread lost its core to other programs in every window
        double peak = Arrays.stream(flops).max().orElseThrow();
        return new Result(peak, threads, S.length(), flops);
    }

    /**
     * Short calls until C2's code runs: the interpreter and C1 run Vector API code 30-100x slower (each vector
     * a heap object), so a long first call would time them. C2's loop takes a few ns an iteration (12 FMAs at
     * 2 a cycle), C1's hundreds: a batch under 30 ns an iteration means C2's code is in. Gives up after 3 s
     * (then the repetitions may come out low, not wrong).
     */
    private static void warmUp() {
        float s = 0;
        long deadline = System.nanoTime() + 3_000_000_000L;
        for (int batch = 0; System.nanoTime() < deadline; batch++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < 20; i++) s += chains(64, 0.5f);
            if (batch >= 10 && (System.nanoTime() - t0) / (20.0 * 64) < 30) break;
            // once the calls have queued C2's compile, leave the cores to the compiler thread
            if (batch >= 100) LockSupport.parkNanos(500_000);
        }
        if (!Float.isFinite(s)) throw new IllegalStateException("FMA warm-up diverged");
    }

    /** CHAINS independent FMA chains of n steps each; returns a sum so that the work is not dead code. */
    static float chains(int n, float seed) {
        FloatVector b = FloatVector.broadcast(S, 0.999f);
        FloatVector c = FloatVector.broadcast(S, seed);
        FloatVector a0 = c, a1 = c.add(1), a2 = c.add(2), a3 = c.add(3), a4 = c.add(4), a5 = c.add(5);
        FloatVector a6 = c.add(6), a7 = c.add(7), a8 = c.add(8), a9 = c.add(9), a10 = c.add(10), a11 = c.add(11);
        for (int i = 0; i < n; i++) {
            a0 = a0.fma(b, c);
            a1 = a1.fma(b, c);
            a2 = a2.fma(b, c);
            a3 = a3.fma(b, c);
            a4 = a4.fma(b, c);
            a5 = a5.fma(b, c);
            a6 = a6.fma(b, c);
            a7 = a7.fma(b, c);
            a8 = a8.fma(b, c);
            a9 = a9.fma(b, c);
            a10 = a10.fma(b, c);
            a11 = a11.fma(b, c);
        }
        FloatVector sum = a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11);
        return sum.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    private static float sum(float[] xs) {
        float s = 0;
        for (float x : xs) s += x;
        return s;
    }

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        long t0 = System.nanoTime();
        Result r = measure(reps);
        double ms = (System.nanoTime() - t0) / 1e6;
        System.out.printf(Locale.ROOT, "%s; repetitions (GFLOP/s): %s; measured in %.0f ms%n", r.describe(),
                Arrays.toString(Arrays.stream(r.repetitions()).map(f -> Math.round(f / 1e8) / 10.0).toArray()), ms);
    }
}
