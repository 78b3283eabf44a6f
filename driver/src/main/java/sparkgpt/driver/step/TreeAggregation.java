// aggregation = tree: MLlib's treeAggregate; each partition's partial joins GradientSum's buddy segments.
package sparkgpt.driver.step;

import org.apache.spark.api.java.JavaRDD;

final class TreeAggregation implements Aggregation {
    private final int blockFloats;
    private final float[] flat;

    TreeAggregation(int blockFloats, float[] flat) {
        this.blockFloats = blockFloats;
        this.flat = flat;
    }

    @Override
    public Sum sum(JavaRDD<GradientStep.Partial> partials) {
        GradientSum sum = partials.treeAggregate(new GradientSum(), GradientSum::add, GradientSum::merge);
        return new Sum(sum.flatGradients(flat, blockFloats), sum);
    }

    @Override
    public String describe() {
        return "tree";
    }
}
