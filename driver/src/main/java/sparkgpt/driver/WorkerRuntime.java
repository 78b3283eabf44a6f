// Executor-side state that outlives tasks: models (and their compiled kernels) kept per JVM, keyed by shape.
package sparkgpt.driver;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import sparkgpt.kernels.Backend;
import sparkgpt.kernels.Backends;
import sparkgpt.worker.Gpt;
import sparkgpt.worker.GptConfig;

/**
 * A task borrows a {@link Gpt} for its step and gives it back. With one task per executor (spark.task.cpus =
 * executor cores) that is one model per JVM for the whole run: activations allocated and kernels
 * compiled once. Tasks running side by side in one JVM (local[N] with several partitions) get one
 * model each. A request for a different shape drops the idle models of the old one.
 */
public final class WorkerRuntime {
    private WorkerRuntime() {}

    /** What makes two models interchangeable. */
    public record Key(GptConfig config, int microBatchSize, String device) {}

    private static final Map<Key, ArrayDeque<Gpt>> IDLE = new HashMap<>();

    public static Gpt borrow(Key key) {
        synchronized (IDLE) {
            ArrayDeque<Gpt> idle = IDLE.get(key);
            if (idle != null && !idle.isEmpty()) return idle.pop();
            IDLE.entrySet().removeIf(e -> {
                if (e.getKey().equals(key)) return false;
                e.getValue().forEach(Gpt::close);
                return true;
            });
        }
        return new Gpt(key.config(), key.microBatchSize(), openBackend(key.device()));
    }

    public static void giveBack(Key key, Gpt model) {
        synchronized (IDLE) {
            IDLE.computeIfAbsent(key, k -> new ArrayDeque<>()).push(model);
        }
    }

    /** The one place a backend is chosen: device = auto | opencl | cpu (see Backends). */
    static Backend openBackend(String device) {
        try {
            return Backends.open(device);
        } catch (RuntimeException e) {
            throw new UserError("device = " + device + ": " + e.getMessage(), e);
        }
    }
}
