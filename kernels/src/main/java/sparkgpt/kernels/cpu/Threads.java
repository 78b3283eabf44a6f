// The cpu backend's worker threads: one fixed pool per JVM, shared by every layer.
package sparkgpt.kernels.cpu;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Splits a loop of n iterations into one contiguous range per thread. Spark runs one task per
 * executor that uses all of the executor's cores (spark.task.cpus = executor cores), so the
 * threads here are the task's cores. Size: -Dsparkgpt.threads, default availableProcessors().
 */
public final class Threads {
    private Threads() {}

    /** A loop body over [from, to). */
    @FunctionalInterface
    public interface Range {
        void run(int from, int to);
    }

    private static final int THREADS = Integer.getInteger("sparkgpt.threads",
            Runtime.getRuntime().availableProcessors());

    private static final ExecutorService POOL = Executors.newFixedThreadPool(Math.max(1, THREADS - 1), r -> {
        Thread t = new Thread(r, "sparkgpt-cpu");
        t.setDaemon(true);
        return t;
    });

    // set while a pool thread runs a range: nested parallel loops then run inline
    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> false);

    public static int count() {
        return THREADS;
    }

    /** Runs body over [0, n) in up to count() contiguous ranges; the caller's thread takes the first. */
    public static void parallelFor(int n, Range body) {
        parallelFor(n, 1, body);
    }

    /**
     * As {@link #parallelFor(int, Range)}, but ranges are multiples of grain (except the last), so
     * that a caller can split work on block boundaries.
     */
    public static void parallelFor(int n, int grain, Range body) {
        int blocks = (n + grain - 1) / grain;
        int parts = Math.min(THREADS, blocks);
        if (parts <= 1 || INSIDE.get()) {
            if (n > 0) body.run(0, n);
            return;
        }
        int perPart = (blocks + parts - 1) / parts * grain;
        CountDownLatch done = new CountDownLatch(parts - 1);
        AtomicReference<Throwable> error = new AtomicReference<>();
        for (int p = 1; p < parts; p++) {
            int from = p * perPart, to = Math.min(n, from + perPart);
            POOL.execute(() -> {
                INSIDE.set(true);
                try {
                    if (from < to) body.run(from, to);
                } catch (Throwable e) {
                    error.compareAndSet(null, e);
                } finally {
                    INSIDE.set(false);
                    done.countDown();
                }
            });
        }
        INSIDE.set(true);
        try {
            body.run(0, Math.min(n, perPart));
        } finally {
            INSIDE.set(false);
        }
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for cpu threads", e);
        }
        Throwable e = error.get();
        if (e instanceof RuntimeException re) throw re;
        if (e instanceof Error err) throw err;
        if (e != null) throw new IllegalStateException(e);
    }
}
