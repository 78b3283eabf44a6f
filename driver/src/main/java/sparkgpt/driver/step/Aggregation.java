// The seam for summing a step's partial gradients on the cluster: tree (treeAggregate) or sliced
// (reduceByKey over gradient blocks). Both add in the order of GradientSum's buddy rule: the same bits.
package sparkgpt.driver.step;

import org.apache.spark.api.java.JavaRDD;

public interface Aggregation {
    /** The sum of every partition's partial: the flat gradient (in the parameter layout), losses and timings. */
    Sum sum(JavaRDD<GradientStep.Partial> partials);

    /**
     * gradients: the summed gradient, flat; stats: the summed losses and the slowest partition's timings
     * ({@link GradientSum#lossSum}, computeMs, ...).
     */
    record Sum(float[] gradients, GradientSum stats) {}

    /** What aggregation = tree | sliced runs for a model of size floats in blocks of blockFloats. */
    static Aggregation of(String kind, long size, int blockFloats, int executors) {
        int blocks = WeightBlocks.count(size, blockFloats);
        float[] flat = blocks > 1 ? new float[(int) size] : null; // the summed blocks, reused every step
        return switch (kind) {
            case "tree" -> new TreeAggregation(blockFloats, flat);
            // two reducers per executor, and enough that none collects more than 8 blocks (512 MB by default)
            case "sliced" -> new SlicedAggregation(blockFloats, blocks, Math.min(blocks, Math.max(2 * executors,
                    (blocks + 7) / 8)), flat);
            default -> throw new IllegalArgumentException("aggregation " + kind + ": expected tree or sliced");
        };
    }

    /** How the step line and the transfer summary name it. */
    String describe();
}
