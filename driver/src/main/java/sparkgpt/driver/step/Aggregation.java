// The seam for summing a step's partial gradients on the cluster: tree (each partition's gradient to the
// driver, or treeAggregate's levels for many partitions), stream (gradient blocks through the executors'
// block managers while the backward pass runs) or sliced (reduceByKey over gradient blocks). All add in the
// order of GradientSum's buddy rule: the same bits.
package sparkgpt.driver.step;

import org.apache.spark.api.java.JavaRDD;
import sparkgpt.driver.data.TokenWindows;

public interface Aggregation {
    /**
     * Runs step over every partition of windows, whose partials {@link Pending#await} gives summed: the flat
     * gradient, losses and timings. Returns without waiting for the job where {@link #submitsAhead} (its tasks
     * may then wait for weights still being written); else once the job has ended.
     */
    Pending submit(JavaRDD<TokenWindows> windows, GradientStep step);

    /** Whether {@link #submit} returns before the job ends over this many partitions. */
    default boolean submitsAhead(int partitions) {
        return false;
    }

    /** A submitted step's job. */
    interface Pending {
        /** Waits for the job; its failure is thrown as runJob would throw it. */
        Sum await();

        /** Cancels the job if it is still running (its tasks are killed); {@link #await} then throws. */
        default void cancel() {}
    }

    /**
     * gradients: the summed gradient, flat in the parameter layout; stats: the summed losses and the slowest
     * partition's timings ({@link GradientSum#lossSum}, computeMs, ...).
     */
    record Sum(float[] gradients, GradientSum stats) {
        /** After the update: the executors' models that lent their gradient buffers to the driver (local mode) go back. */
        public void release() {
            stats.release();
        }
    }

    /**
     * What aggregation = tree | stream | sliced runs for a model of size floats in blocks of blockFloats; stream's
     * blocks are also cut at cuts (where each layer's gradient starts, ascending).
     */
    static Aggregation of(String kind, long size, int blockFloats, int executors, long[] cuts) {
        int blocks = WeightBlocks.count(size, blockFloats);
        // the summed blocks, reused every step
        float[] flat = blocks > 1 || kind.equals("stream") ? new float[(int) size] : null;
        return switch (kind) {
            case "tree" -> new TreeAggregation(blockFloats, flat, null);
            case "stream" -> new TreeAggregation(blockFloats, flat, WeightBlocks.starts(size, blockFloats, cuts));
            // two reducers per executor, and enough that none collects more than 8 blocks (512 MB by default)
            case "sliced" -> new SlicedAggregation(blockFloats, blocks, Math.min(blocks, Math.max(2 * executors,
                    (blocks + 7) / 8)), flat);
            default -> throw new IllegalArgumentException("aggregation " + kind + ": expected tree, stream or sliced");
        };
    }

    /** How the step line and the transfer summary name it. */
    String describe();
}
