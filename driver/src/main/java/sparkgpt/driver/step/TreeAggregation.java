// aggregation = tree: every partition's partial joins GradientSum's buddy segments; up to DRIVER_FAN_IN
// partitions send theirs straight to the driver in the step's one job, more go through treeAggregate's levels.
// aggregation = stream: the same one job, its gradient gathered from the executors' block managers instead
// (GradientStream).
package sparkgpt.driver.step;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SimpleFutureAction;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;
import sparkgpt.driver.config.TransferConfig;
import sparkgpt.driver.data.TokenWindows;

final class TreeAggregation implements Aggregation {
    /**
     * treeAggregate (depth 2) adds a level on the executors only past 6 partitions; up to there it is one job
     * whose results the driver adds as they arrive, which is what submitJob does here with less per-step work:
     * no extra RDD, no zero value to clone, and no closure cleaning of Spark's own lambdas (treeAggregate's Java
     * wrappers are Scala lambdas, whose class files Spark's ClosureCleaner reads with ASM on every call).
     */
    static final int DRIVER_FAN_IN = TransferConfig.DRIVER_FAN_IN;

    /** A step whose gradient block was lost after its task ended runs this many times in all before it fails. */
    static final int STREAM_ATTEMPTS = 3;

    private final int blockFloats;
    private final float[] flat;
    /** aggregation = stream: where the gradient's blocks start (the layers' cuts, and P last); null: in the results. */
    private final long[] streamStarts;

    TreeAggregation(int blockFloats, float[] flat, long[] streamStarts) {
        this.blockFloats = blockFloats;
        this.flat = flat;
        this.streamStarts = streamStarts;
    }

    @Override
    public Pending submit(JavaRDD<TokenWindows> windows, GradientStep step) {
        if (streamStarts != null && step.trains() && windows.getNumPartitions() <= DRIVER_FAN_IN) return stream(windows, step, 1);
        int n = windows.getNumPartitions();
        if (n > DRIVER_FAN_IN) {
            GradientSum sum = windows.mapPartitionsWithIndex(step, false).treeAggregate(new GradientSum(), GradientSum::add,
                    GradientSum::merge);
            return () -> new Sum(sum.flatGradients(flat, blockFloats), sum);
        }
        GradientSum total = new GradientSum();
        SimpleFutureAction<BoxedUnit> job = submitJob(windows, step, total);
        return new Pending() {
            @Override
            public Sum await() {
                TreeAggregation.await(job);
                return new Sum(total.flatGradients(flat, blockFloats), total);
            }

            @Override
            public void cancel() {
                job.cancel();
            }
        };
    }

    /**
     * aggregation = stream: the step's job, with the gradient's blocks fetched and summed into flat as the tasks put
     * them; the results carry the losses and timings. A block lost after its task ended runs the step again.
     */
    private Pending stream(JavaRDD<TokenWindows> windows, GradientStep step, int attempt) {
        GradientStream.Channel channel = GradientStream.open(streamStarts);
        int n = windows.getNumPartitions();
        GradientStream.Gather gather = GradientStream.gather(windows.context(), channel, n, flat);
        GradientSum total = new GradientSum();
        SimpleFutureAction<BoxedUnit> job;
        try {
            job = submitJob(windows, step.streamingTo(channel), total);
        } catch (RuntimeException | Error e) {
            gather.close();
            throw e;
        }
        return new Pending() {
            @Override
            public Sum await() {
                try {
                    TreeAggregation.await(job);
                    gather.jobDone();
                    return new Sum(gather.await(), total);
                } catch (GradientStream.BlockLost lost) {
                    if (attempt >= STREAM_ATTEMPTS) throw lost;
                    System.err.println("sparkgpt: " + lost.getMessage() + "; the step runs again");
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while the gradient arrived", e);
                } finally {
                    gather.close();
                }
                return stream(windows, step, attempt + 1).await(); // this attempt's blocks are dropped by now
            }

            @Override
            public void cancel() {
                job.cancel();
                gather.close();
            }
        };
    }

    /** The step as one job over every partition, whose results the driver merges into total as they arrive. */
    private static SimpleFutureAction<BoxedUnit> submitJob(JavaRDD<TokenWindows> windows, GradientStep step, GradientSum total) {
        List<Object> partitions = new ArrayList<>();
        for (int p = 0; p < windows.getNumPartitions(); p++) partitions.add(p);
        // the result handler runs on the driver as each partition's sum arrives; merge's buddy rule makes the arrival
        // order irrelevant to the bits
        return windows.context().submitJob(windows.rdd(), new PartitionSum(step),
                scala.jdk.javaapi.CollectionConverters.asScala(partitions).toSeq(),
                (scala.Function2<Object, GradientSum, BoxedUnit>) (p, s) -> {
                    GradientSum.merge(total, s);
                    return BoxedUnit.UNIT;
                }, (scala.Function0<BoxedUnit>) () -> BoxedUnit.UNIT);
    }

    /** Over up to DRIVER_FAN_IN partitions the step is one job, which submitJob starts without waiting. */
    @Override
    public boolean submitsAhead(int partitions) {
        return partitions <= DRIVER_FAN_IN;
    }

    /**
     * Waits for the job and throws its failure as it is, as runJob does (FutureAction.get would wrap it in a
     * SparkException "Exception thrown in awaitResult").
     */
    private static void await(SimpleFutureAction<BoxedUnit> job) {
        try {
            job.result(scala.concurrent.duration.Duration.Inf(), null);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) { // a checked exception from Scala code, which Java's compiler does not see declared
            throw new IllegalStateException(e);
        }
    }

    /** A task: the step over its partition's windows, as a one-partition sum (what treeAggregate's seqOp makes). */
    static final class PartitionSum extends AbstractFunction1<scala.collection.Iterator<TokenWindows>, GradientSum>
            implements Serializable {
        private final GradientStep step;

        PartitionSum(GradientStep step) {
            this.step = step;
        }

        @Override
        public GradientSum apply(scala.collection.Iterator<TokenWindows> windows) {
            java.util.Iterator<GradientStep.Partial> partial = step.call(TaskContext.get().partitionId(),
                    scala.jdk.javaapi.CollectionConverters.asJava(windows));
            return GradientSum.add(new GradientSum(), partial.next());
        }
    }

    @Override
    public String describe() {
        return streamStarts != null ? "stream (gradient blocks through the executors' block managers, summed as the backward pass ends each)" : "tree";
    }
}
