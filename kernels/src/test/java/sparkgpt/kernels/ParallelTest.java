// Parallel.cpuNanos counts the CPU time of the caller and the pool's threads, not their wall time.
package sparkgpt.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ParallelTest {

    @Test
    void cpuNanosCountsRunningThreadsAndNotSleepingOnes() throws Exception {
        long c0 = Parallel.cpuNanos();
        if (c0 < 0) {
            return; // a JVM without thread CPU time: -1, which GradientStep reports as not measured
        }
        // every thread of the pool busy for about 300 ms
        long w0 = System.nanoTime();
        double[] sink = new double[Parallel.threads()];
        Parallel.parallelFor(Parallel.threads(), (from, to) -> {
            for (int p = from; p < to; p++) {
                double x = 1;
                while (System.nanoTime() - w0 < 300_000_000L) {
                    x = x * 1.0000001 + 1e-9;
                }
                sink[p] = x;
            }
        });
        long busyWall = System.nanoTime() - w0, busyCpu = Parallel.cpuNanos() - c0;
        // a sleep of 300 ms: no thread runs
        long c1 = Parallel.cpuNanos();
        Thread.sleep(300);
        long idleCpu = Parallel.cpuNanos() - c1;
        String at = "busy: " + busyCpu / 1e6 + " ms CPU in " + busyWall / 1e6 + " ms on " + Parallel.threads()
                + " threads; asleep: " + idleCpu / 1e6 + " ms CPU in 300 ms; " + sink[0];
        // other processes may hold a core now and then, so the busy share is only bounded below loosely
        assertTrue(busyCpu > 0.4 * busyWall * Parallel.threads(), at);
        assertTrue(busyCpu < 1.1 * busyWall * Parallel.threads() + 20_000_000L, at);
        assertTrue(idleCpu < 100_000_000L, at);
    }
}
