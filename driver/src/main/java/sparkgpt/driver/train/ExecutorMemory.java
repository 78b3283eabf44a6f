// What an executor's heap must hold for one model, checked against what Spark granted before the
// first step; and an executor lost to OutOfMemoryError mid-run turned into one line, not four retries.
package sparkgpt.driver.train;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.spark.ExceptionFailure;
import org.apache.spark.ExecutorLostFailure;
import org.apache.spark.TaskEndReason;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import sparkgpt.driver.config.UserError;
import sparkgpt.worker.ActivationLayout;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;

/**
 * The estimate, in bytes (docs/scaling.md's memory model): weights and gradients 8 P; activations and
 * their gradients for one micro-batch ({@link ActivationLayout#bytes}; forward only: the activations;
 * the OpenCL backend's attention scratch, 8 B NH T^2 bytes, is left to the headroom); the broadcast's
 * pieces and its value 8 P; the task result, 4 P through the block manager or 12 P when sent in the
 * status message (Kryo output, the serialized result and the RPC buffer each hold a copy); a copy of the
 * gradient in blocks when it is not lent (sliced aggregation) 4 P; Spark's reserved 300 MB; and 20%
 * headroom for the collector (G1 places each large array in contiguous regions). Checked: GPT-2 124M at
 * micro-batch 1 x 1024 comes to ~4.4 GiB (it ran out of memory in a 4 GB executor and ran in 5 GB); the
 * bench model to ~1 GiB (it died of OutOfMemoryError in Spark's 1 GB default, ran in 3 GB).
 */
public final class ExecutorMemory {
    private ExecutorMemory() {}

    static final long SPARK_RESERVED = 300L << 20;
    static final double HEADROOM = 1.2;

    /**
     * Bytes one executor's heap needs for a task of this model; backward false: an eval. inJvm: local mode,
     * where fp32 weights and a lent gradient are handed over in the JVM, without broadcast pieces or a
     * serialized result.
     */
    static long need(GptConfig model, int microBatchSize, boolean backward, boolean lend, long directResultBytes,
                     boolean inJvm) {
        long p = new ParameterLayout(model).size();
        ActivationLayout acts = new ActivationLayout(model, microBatchSize, 0);
        long bytes = 4 * p * (backward ? 2 : 1) + (backward ? acts.bytes() : 4L * acts.size()) + (inJvm ? 0 : 8 * p);
        if (backward && !(inJvm && lend)) bytes += 4 * p * (4 * p <= directResultBytes ? 3 : 1) + (lend ? 0 : 4 * p);
        return (long) (bytes * HEADROOM) + SPARK_RESERVED;
    }

    /**
     * Fails with one line when Spark granted executors (or, in local mode, this JVM, which also holds the
     * driver's weights, summed gradient and AdamW moments) less than they need. perPartition: sequences a
     * partition runs per step, for the micro_batch_size that would fit.
     */
    static void check(JavaSparkContext sc, GptConfig model, int microBatchSize, int perPartition, boolean backward,
                      boolean lend, boolean fp32Transfers, int partitions) {
        boolean inJvm = sc.isLocal() && fp32Transfers;
        long direct = sc.getConf().getSizeAsBytes("spark.task.maxDirectResultSize", "1m"); // Spark's default
        long driver = driverBytes(sc, model, backward, partitions), granted = granted(sc);
        String setting = sc.isLocal()
                ? "the driver's heap (local mode: the executor runs in it; SPARKGPT_DRIVER_MEMORY, --driver-memory)"
                : "spark.executor.memory (deploy/submit --executor-memory, deploy/standalone-up --memory)";
        long need = need(model, microBatchSize, backward, lend, direct, inJvm) + driver;
        if (need <= granted) return;
        int fits = 0;
        for (int m = microBatchSize - 1; m >= 1 && fits == 0; m--) {
            if (perPartition % m == 0 && need(model, m, backward, lend, direct, inJvm) + driver <= granted) fits = m;
        }
        throw new UserError(String.format(Locale.ROOT,
                "executors need ~%d MB for this model at micro_batch_size = %d (weights, gradients, activations, transfer"
                        + " buffers; docs/scaling.md), but %s is %d MB: raise it to at least %s%s", need >> 20,
                microBatchSize, setting, granted >> 20, setting(need), fits > 0 ? ", or use micro_batch_size = " + fits : ""));
    }

    /**
     * The largest micro-batch, a divisor of a partition's share of batchSize, whose training task fits what Spark
     * granted by {@link #need}'s estimate, taking its larger transfer terms (a gradient not lent); in local mode the
     * driver's weights, sum, AdamW moments and partials come off the heap first. partitions: the setting (0: one per
     * executor). 0 when none fits or the partitions do not divide batchSize.
     */
    public static int largestFitting(JavaSparkContext sc, GptConfig model, int batchSize, int partitions) {
        if (partitions <= 0) partitions = StartingPoint.defaultPartitions(sc);
        if (batchSize % partitions != 0) return 0;
        return largestFitting(model, batchSize / partitions, granted(sc) - driverBytes(sc, model, true, partitions),
                sc.isLocal());
    }

    static int largestFitting(GptConfig model, int share, long available, boolean inJvm) {
        for (int m = share; m >= 1; m--) {
            if (share % m == 0 && need(model, m, true, false, 0, inJvm) <= available) return m;
        }
        return 0;
    }

    /** An executor's heap; in local mode the driver's, which holds the executor. */
    private static long granted(JavaSparkContext sc) {
        return sc.isLocal() ? Runtime.getRuntime().maxMemory() : (long) sc.sc().executorMemory() << 20;
    }

    /** In local mode, what the driver keeps in the same heap: weights, sum, AdamW's m and v, one partial a partition. */
    private static long driverBytes(JavaSparkContext sc, GptConfig model, boolean backward, int partitions) {
        long p = new ParameterLayout(model).size();
        return !sc.isLocal() ? 0 : backward ? 4 * p * (3 + partitions) : 4 * p;
    }

    /** Bytes rounded up to a setting one types: 1536m, 2g, 8g. */
    static String setting(long bytes) {
        long mb = ((bytes >> 20) / 512 + 1) * 512;
        return mb % 1024 == 0 ? mb / 1024 + "g" : mb + "m";
    }

    /**
     * Watches task failures for an executor that ran out of memory; on the first one it cancels the
     * running jobs at once (Spark would retry the task spark.task.maxFailures times, each on an executor
     * that dies the same way) and keeps the reason for {@link #rethrow}.
     */
    static final class Watch extends SparkListener {
        private final JavaSparkContext sc;
        private final AtomicReference<String> reason = new AtomicReference<>();
        /** The description of the job that ran last ("step 12", "eval at step 50"): jobs run one at a time. */
        private volatile String job = "the first job";

        Watch(JavaSparkContext sc) {
            this.sc = sc;
            sc.sc().addSparkListener(this);
        }

        @Override
        public void onJobStart(SparkListenerJobStart start) {
            String d = start.properties() == null ? null : start.properties().getProperty("spark.job.description");
            if (d != null) job = d;
        }

        @Override
        public void onTaskEnd(SparkListenerTaskEnd end) {
            String why = outOfMemory(end.reason());
            if (why != null && reason.compareAndSet(null, "executor " + end.taskInfo().executorId() + " " + why)) {
                sc.cancelAllJobs();
            }
        }

        /**
         * After a failed job: the one-line error when an executor ran out of memory, else the failure itself
         * (Spark's SparkException is a checked exception that Scala code throws undeclared).
         */
        RuntimeException rethrow(Exception failure) {
            String why = reason.get();
            if (why == null) return ExecutorMemory.<RuntimeException>unchecked(failure);
            return new UserError(job + ": " + why + ": raise spark.executor.memory (now "
                    + sc.sc().executorMemory() + " MB; deploy/submit --executor-memory, deploy/standalone-up --memory)"
                    + " or spark.executor.memoryOverhead on YARN/Kubernetes, or lower micro_batch_size", failure);
        }

        void stop() {
            sc.sc().removeSparkListener(this);
        }
    }

    @SuppressWarnings("unchecked")
    private static <E extends Exception> RuntimeException unchecked(Exception e) throws E {
        throw (E) e;
    }

    /** "ran out of memory (...)" when a task's end says so; null otherwise. */
    static String outOfMemory(TaskEndReason reason) {
        if (reason instanceof ExceptionFailure f && f.className().equals(OutOfMemoryError.class.getName())) {
            return "ran out of memory (" + f.className() + ": " + f.description() + ")";
        }
        if (reason instanceof ExecutorLostFailure lost) {
            String text = lost.toErrorString();
            // SparkExitCode.OOM = 52: the executor's uncaught-exception handler exits with it on OutOfMemoryError
            if (text.contains("OutOfMemoryError") || text.matches("(?s).*\\b(code|status) 52\\b.*")) {
                return "ran out of memory (its JVM exited with code 52, OutOfMemoryError)";
            }
            if (text.contains("exceeding memory limits")) return "was killed for exceeding its container's memory";
        }
        return null;
    }
}
