// Executor-side state that outlives tasks: models (and their compiled kernels) kept per JVM, keyed by shape.
package sparkgpt.driver.step;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.TaskContext;
import sparkgpt.driver.config.UserError;
import sparkgpt.kernels.Backend;
import sparkgpt.kernels.Backends;
import sparkgpt.kernels.Parallel;
import sparkgpt.kernels.opencl.OpenClBackend;
import sparkgpt.worker.Gpt;
import sparkgpt.worker.GptConfig;

/**
 * A task borrows a {@link Gpt} for its step and gives it back. With one task per executor (spark.task.cpus =
 * executor cores) that is one model per JVM for the whole run: activations allocated and kernels
 * compiled once. Tasks running side by side in one JVM (local[N] with several partitions) get one
 * model each. A request for a different shape drops the idle models of the old one. Under Spark's
 * GPU scheduling a model is also kept per assigned GPU: a task gets one that runs on its own GPU.
 */
public final class WorkerRuntime {
    private WorkerRuntime() {}

    /** What makes two models interchangeable. */
    public record Key(GptConfig config, int microBatchSize, String device) {}

    /** A model's identity in the pool: its key and the OpenCL device it runs on (-1: the backend's choice). */
    private record Slot(Key key, int openClIndex) {}

    private static final Map<Slot, ArrayDeque<Gpt>> IDLE = new HashMap<>();
    private static volatile int visibleGpus = -1;

    public static Gpt borrow(Key key) {
        useTaskCores();
        Slot slot = new Slot(key, taskOpenClIndex(key.device()));
        synchronized (IDLE) {
            ArrayDeque<Gpt> idle = IDLE.get(slot);
            if (idle != null && !idle.isEmpty()) return idle.pop();
            IDLE.entrySet().removeIf(e -> {
                if (e.getKey().key().equals(key)) return false;
                e.getValue().forEach(Gpt::close);
                return true;
            });
        }
        return new Gpt(key.config(), key.microBatchSize(), openBackend(key.device(), slot.openClIndex()));
    }

    /**
     * On an executor the kernels run on the cores Spark gave the task (spark.task.cpus, which the driver sets
     * to spark.executor.cores), not on every core of the machine: two 1-core executors of one host each ran 2
     * threads, 4 on 2 cores, and a step took 2.7 s instead of 2.1 s. Set before the first kernel starts the
     * JVM's pool ({@link sparkgpt.kernels.Parallel}); sparkgpt.threads, where a JVM has it, wins. In local mode
     * the executor is the driver, whose pool has every core.
     */
    private static void useTaskCores() {
        if (System.getProperty(Parallel.THREADS_PROPERTY) != null || InJvm.inDriver()) return;
        TaskContext context = TaskContext.get();
        if (context != null) System.setProperty(Parallel.THREADS_PROPERTY, Integer.toString(context.cpus()));
    }

    public static void giveBack(Key key, Gpt model) {
        Slot slot = new Slot(key, taskOpenClIndex(key.device()));
        synchronized (IDLE) {
            IDLE.computeIfAbsent(slot, k -> new ArrayDeque<>()).push(model);
        }
    }

    /** A Runnable that gives the model back on its first run and does nothing after. */
    public static Runnable giveBackOnce(Key key, Gpt model) {
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        return () -> {
            if (done.compareAndSet(false, true)) giveBack(key, model);
        };
    }

    /** The one place a backend is chosen: device = auto | opencl | cpu (see Backends), on the task's GPU if any. */
    public static Backend openBackend(String device) {
        return openBackend(device, taskOpenClIndex(device));
    }

    private static Backend openBackend(String device, int openClIndex) {
        try {
            return Backends.open(device, openClIndex);
        } catch (RuntimeException e) {
            throw new UserError("device = " + device + (openClIndex >= 0 ? " (OpenCL device " + openClIndex
                    + ", the task's GPU " + TaskGpu.addresses() + ")" : "") + ": " + e.getMessage(), e);
        }
    }

    /** The OpenCL index of the GPU Spark gave the running task; -1 without one, or for device = cpu. */
    private static int taskOpenClIndex(String device) {
        if ("cpu".equals(device == null ? null : device.trim())) return -1;
        List<String> addresses = TaskGpu.addresses();
        if (addresses.isEmpty()) return -1;
        if (visibleGpus < 0) visibleGpus = OpenClBackend.gpuCount(); // a JVM's devices do not change; list them once
        return TaskGpu.openClIndex(addresses, visibleGpus);
    }
}
