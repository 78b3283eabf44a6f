// aggregation = tree: every partition's partial joins GradientSum's buddy segments; up to DRIVER_FAN_IN
// partitions send theirs straight to the driver in the step's one job, more go through treeAggregate's levels.
package sparkgpt.driver.step;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkContext;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import scala.reflect.ClassTag;
import scala.runtime.AbstractFunction2;
import sparkgpt.driver.data.TokenWindows;

final class TreeAggregation implements Aggregation {
    /**
     * treeAggregate (depth 2) adds a level on the executors only past 6 partitions; up to there it is one job
     * whose results the driver adds as they arrive, which is what runJob does here with less per-step work:
     * no extra RDD, no zero value to clone, and no closure cleaning of Spark's own lambdas (treeAggregate's Java
     * wrappers are Scala lambdas, whose class files Spark's ClosureCleaner reads with ASM on every call).
     */
    static final int DRIVER_FAN_IN = 6;

    private final int blockFloats;
    private final float[] flat;

    TreeAggregation(int blockFloats, float[] flat) {
        this.blockFloats = blockFloats;
        this.flat = flat;
    }

    @Override
    public Sum sum(JavaRDD<TokenWindows> windows, GradientStep step) {
        int n = windows.getNumPartitions();
        GradientSum sum;
        if (n > DRIVER_FAN_IN) {
            sum = windows.mapPartitionsWithIndex(step, false).treeAggregate(new GradientSum(), GradientSum::add, GradientSum::merge);
        } else {
            GradientSum total = new GradientSum();
            List<Object> partitions = new ArrayList<>();
            for (int p = 0; p < n; p++) partitions.add(p);
            SparkContext sc = windows.context();
            // the result handler runs on the driver as each partition's sum arrives; merge's buddy rule makes the
            // arrival order irrelevant to the bits
            sc.runJob(windows.rdd(), new PartitionSum(step),
                    scala.jdk.javaapi.CollectionConverters.asScala(partitions).toSeq(),
                    (scala.Function2<Object, GradientSum, scala.runtime.BoxedUnit>) (p, s) -> {
                        GradientSum.merge(total, s);
                        return scala.runtime.BoxedUnit.UNIT;
                    }, ClassTag.apply(GradientSum.class));
            sum = total;
        }
        return new Sum(sum.flatGradients(flat, blockFloats), sum);
    }

    /** A task: the step over its partition's windows, as a one-partition sum (what treeAggregate's seqOp makes). */
    static final class PartitionSum extends AbstractFunction2<TaskContext, scala.collection.Iterator<TokenWindows>, GradientSum>
            implements Serializable {
        private final GradientStep step;

        PartitionSum(GradientStep step) {
            this.step = step;
        }

        @Override
        public GradientSum apply(TaskContext context, scala.collection.Iterator<TokenWindows> windows) {
            java.util.Iterator<GradientStep.Partial> partial = step.call(context.partitionId(),
                    scala.jdk.javaapi.CollectionConverters.asJava(windows));
            return GradientSum.add(new GradientSum(), partial.next());
        }
    }

    @Override
    public String describe() {
        return "tree";
    }
}
