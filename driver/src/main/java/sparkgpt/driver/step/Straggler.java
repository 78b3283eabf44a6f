// A slow executor on purpose, for the speculation test: off unless a test sets the property on executors.
package sparkgpt.driver.step;

import org.apache.spark.SparkEnv;

/**
 * {@code -Dtest.sparkgpt.straggler=ID:MS} in an executor JVM's options makes every training task that
 * runs on executor ID sleep MS ms before its step, as a busy node or a throttled GPU would. Nothing
 * else reads it; without it this is one property lookup per task.
 */
public final class Straggler {
    private Straggler() {}

    public static final String PROPERTY = "test.sparkgpt.straggler"; // Spark refuses -Dspark* in executor options

    static void delay() {
        String spec = System.getProperty(PROPERTY);
        if (spec == null || SparkEnv.get() == null) return;
        String[] idAndMs = spec.split(":");
        if (!SparkEnv.get().executorId().equals(idAndMs[0])) return;
        try {
            Thread.sleep(Long.parseLong(idAndMs[1]));
        } catch (InterruptedException killed) { // Spark kills the slow attempt once the copy has finished
            Thread.currentThread().interrupt();
            throw new IllegalStateException("straggler attempt killed", killed);
        }
    }
}
