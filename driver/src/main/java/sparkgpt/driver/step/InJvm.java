// Objects that pass from the driver to its tasks, or back, by a handle instead of being serialized: only
// in local mode, where Spark's executor is the driver's own JVM (the weights a step reads, the gradient
// buffer a task hands back). Spark still carries the handle, so the step's path through Spark is the same.
package sparkgpt.driver.step;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.SparkEnv;

final class InJvm {
    private InJvm() {}

    private static final ConcurrentHashMap<Long, Object> OBJECTS = new ConcurrentHashMap<>();
    private static final AtomicLong NEXT = new AtomicLong();

    /**
     * True in a task that runs in the driver's JVM: the executor of local mode is the driver (id "driver",
     * SparkContext.DRIVER_IDENTIFIER), so what the task serializes is read back in this JVM.
     */
    static boolean inDriver() {
        SparkEnv env = SparkEnv.get();
        return env != null && "driver".equals(env.executorId());
    }

    /** Keeps o under a new handle (never 0). */
    static long put(Object o) {
        long id = NEXT.incrementAndGet();
        OBJECTS.put(id, o);
        return id;
    }

    /** The object under handle, which stays (a broadcast read by every task of a step). */
    static <T> T get(long handle, Class<T> type) {
        return type.cast(require(OBJECTS.get(handle), handle));
    }

    /** The object under handle, removed (a result read once). */
    static <T> T take(long handle, Class<T> type) {
        return type.cast(require(OBJECTS.remove(handle), handle));
    }

    static void remove(long handle) {
        OBJECTS.remove(handle);
    }

    private static Object require(Object o, long handle) {
        if (o == null) throw new IllegalStateException("handle " + handle + " is not in this JVM (or was released)");
        return o;
    }
}
