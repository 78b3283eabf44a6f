// A shared fixed pool of daemon threads for the cpu backend: runs the indices of a range [0, n)
// on all threads at once, the calling thread included, and returns when all are done.
package sparkgpt.kernels;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Two ways to share the range: {@link #parallelFor} gives each thread one contiguous piece
 * (for uniform work where a piece's locality matters), {@link #parallelForDynamic} lets threads
 * claim indices one at a time (for coarse work items, so that a thread slowed by a busy core or
 * a longer item does not hold up the others).
 *
 * <p>One JVM-wide pool, sized by the system property {@code sparkgpt.threads} (default: the number of
 * available processors). On a Spark executor the first task sets it to {@code spark.task.cpus}, which the
 * driver sets to the executor's cores: one task per executor, whose own thread plus {@code threads() - 1}
 * pool threads use them all.
 *
 * <p>Both are synchronous: it returns once every piece has run, so the caller may
 * read what the pieces wrote. Pieces must write disjoint data. A call made from inside a piece
 * (nested) runs inline on that thread, so nesting cannot deadlock. An exception thrown by a piece
 * is rethrown to the caller after all pieces have finished.
 */
public final class Parallel {

    /** The body of a parallel loop: handles indices {@code start <= i < end}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int start, int end);
    }

    /** The body of a dynamic parallel loop: handles one index. */
    @FunctionalInterface
    public interface IndexBody {
        void run(int index);
    }

    private static final int THREADS = threadsFromProperty();

    /** Spin-wait rounds before parking: a PAUSE is ~40-140 cycles, so this is ~20-100 us. */
    private static final int SPIN = 2000;

    /** Work items for the pool threads; bounded far above what the callers can have in flight. */
    private static final BlockingQueue<Piece> QUEUE = new ArrayBlockingQueue<>(4096);

    /** True on pool threads, so nested calls run inline instead of waiting on their own pool. */
    private static final ThreadLocal<Boolean> IN_POOL = ThreadLocal.withInitial(() -> false);

    /** Set by the shutdown hook: workers stop, and loops still running finish on their callers' threads. */
    private static volatile boolean closing;

    private static final Thread[] WORKERS = new Thread[Math.max(0, THREADS - 1)];

    static {
        for (int t = 1; t < THREADS; t++) {
            Thread worker = new Thread(Parallel::workerLoop, "sparkgpt-cpu-" + t);
            worker.setDaemon(true); // never keeps an executor or a test JVM alive
            worker.start();
            WORKERS[t - 1] = worker;
        }
        // The pool threads must not be running Java code when the VM halts: a daemon thread still in
        // compiled code there can fault on the VM's safepoint polling page after its signal handling is
        // gone, which kills the process with SIGSEGV (exit 139) after a run's work is done. Shutdown hooks
        // run before the halt, so this one stops the workers and waits for them.
        Runtime.getRuntime().addShutdownHook(new Thread(Parallel::shutdown, "sparkgpt-cpu-shutdown"));
    }

    /** Stops the pool threads and waits (up to a second each) until they have left their loop. */
    static void shutdown() {
        closing = true;
        for (Thread w : WORKERS) w.interrupt();
        for (Thread w : WORKERS) {
            try {
                w.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private Parallel() {}

    /** Number of threads a parallel loop uses, the caller's included. */
    public static int threads() {
        return THREADS;
    }

    /**
     * Runs {@code body} over [0, n), split into min(n, threads()) contiguous pieces of near-equal
     * size. Callers that need pieces aligned to a block size pass a count of blocks as {@code n}.
     */
    public static void parallelFor(int n, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int pieces = Math.min(n, THREADS);
        if (pieces == 1 || IN_POOL.get()) {
            body.run(0, n);
            return;
        }
        run(pieces, p -> body.run(start(n, pieces, p), start(n, pieces, p + 1)));
    }

    /**
     * Runs {@code body.run(i)} for every i in [0, n); each thread claims the next unclaimed index
     * when it finishes one. Worth it when items are few and coarse (microseconds or more each).
     */
    public static void parallelForDynamic(int n, IndexBody body) {
        if (n <= 0) {
            return;
        }
        int pieces = Math.min(n, THREADS);
        if (pieces == 1 || IN_POOL.get()) {
            for (int i = 0; i < n; i++) {
                body.run(i);
            }
            return;
        }
        AtomicInteger next = new AtomicInteger();
        run(pieces, p -> {
            for (int i = next.getAndIncrement(); i < n; i = next.getAndIncrement()) {
                body.run(i);
            }
        });
    }

    /** Runs piece 0 on the caller and pieces 1.. on the pool, then waits for all of them. */
    private static void run(int pieces, IndexBody piece) {
        Job job = new Job(pieces);
        for (int p = 1; p < pieces; p++) {
            QUEUE.add(new Piece(job, piece, p));
        }
        // the caller's own piece counts as inside the pool: loops nested in it run inline, as
        // they do in the pool threads' pieces
        IN_POOL.set(true);
        try {
            piece.run(0);
        } catch (Throwable t) {
            job.fail(t);
        } finally {
            IN_POOL.set(false);
        }
        job.finishOne();
        job.await();
    }

    /**
     * CPU time in ns that the calling thread and the pool's threads have used so far, or -1 where the JVM does not
     * measure thread CPU time. The difference of two readings around a computation on this thread, over its wall
     * time times {@link #threads()}, is the share of that time its threads were running rather than waiting for a
     * core (a nested or concurrent caller's use of the pool counts too).
     */
    public static long cpuNanos() {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        if (!mx.isCurrentThreadCpuTimeSupported() || !mx.isThreadCpuTimeEnabled()) {
            return -1;
        }
        long sum = mx.getCurrentThreadCpuTime();
        for (Thread w : WORKERS) {
            sum += Math.max(0, mx.getThreadCpuTime(w.getId()));
        }
        return sum;
    }

    private static int start(int n, int pieces, int p) {
        return (int) ((long) n * p / pieces);
    }

    /** The system property that sizes the pool, read once when the pool starts. */
    public static final String THREADS_PROPERTY = "sparkgpt.threads";

    private static int threadsFromProperty() {
        String value = System.getProperty(THREADS_PROPERTY);
        if (value == null || value.isBlank()) {
            return Math.max(1, Runtime.getRuntime().availableProcessors());
        }
        try {
            int t = Integer.parseInt(value.trim());
            if (t < 1) {
                throw new NumberFormatException();
            }
            return t;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "system property sparkgpt.threads=" + value + ": expected a positive integer");
        }
    }

    private static void workerLoop() {
        IN_POOL.set(true);
        while (!closing) {
            Piece piece = QUEUE.poll();
            // Loops often come in bursts (a packing pass, then the compute pass): spin a little
            // before sleeping, since waking a parked thread costs tens of microseconds.
            for (int spin = 0; piece == null && spin < SPIN && !closing; spin++) {
                Thread.onSpinWait();
                piece = QUEUE.poll();
            }
            if (piece == null) {
                try {
                    piece = QUEUE.take();
                } catch (InterruptedException e) {
                    continue; // the shutdown hook: the loop's condition ends it
                }
            }
            runPiece(piece);
        }
    }

    private static void runPiece(Piece piece) {
        try {
            piece.body.run(piece.index);
        } catch (Throwable t) {
            piece.job.fail(t);
        }
        piece.job.finishOne();
    }

    private record Piece(Job job, IndexBody body, int index) {}

    /** Completion of one parallelFor call: a countdown the caller waits on. */
    private static final class Job {
        private final AtomicInteger pending;
        private final Thread caller = Thread.currentThread();
        private volatile Throwable failure;

        Job(int pieces) {
            pending = new AtomicInteger(pieces);
        }

        void fail(Throwable t) {
            if (failure == null) {
                failure = t;
            }
        }

        void finishOne() {
            if (pending.decrementAndGet() == 0 && Thread.currentThread() != caller) {
                LockSupport.unpark(caller);
            }
        }

        void await() {
            // A short spin first: the pieces are near-equal, so the others usually finish within
            // microseconds of the caller, and parking would add a wake-up latency to every call.
            for (int spin = 0; spin < SPIN && pending.get() != 0; spin++) {
                Thread.onSpinWait();
            }
            while (pending.get() != 0) {
                if (closing) { // the workers are stopping: run what they left in the queue here
                    Piece left = QUEUE.poll();
                    if (left != null) {
                        runPiece(left);
                        continue;
                    }
                    LockSupport.parkNanos(this, 1_000_000);
                } else {
                    LockSupport.park(this);
                }
            }
            Throwable t = failure;
            if (t instanceof RuntimeException re) {
                throw re;
            }
            if (t instanceof Error err) {
                throw err;
            }
            if (t != null) {
                throw new RuntimeException(t);
            }
        }
    }
}
