// Local mode: the next step's Spark job, submitted while this step computes, over weights its update will write.
package sparkgpt.driver.train;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import sparkgpt.driver.data.TokenWindows;
import sparkgpt.driver.step.Aggregation;
import sparkgpt.driver.step.GradientStep;
import sparkgpt.driver.step.WeightBlocks;

/**
 * In local mode a small model's step is a few tens of ms, and Spark takes 11-14 ms of it from a job's
 * submission to its task starting (the DAG scheduler's stage, the task binary, the offer and launch), all
 * before the task reads the weights. So step s+1's job is submitted as soon as step s's is, over weights
 * {@link WeightBlocks#later} that step s's update has not written yet: Spark launches its task on a free core
 * while step s computes, and the task waits in {@link WeightBlocks#awaitPublished}, before it borrows a
 * model, until {@link #start}. It runs the same code over the same weights and windows as a job submitted
 * after the update: the same bits. Only in local mode (the task waits on the driver's own array), only for a
 * plain training step (no eval or checkpoint before it), and only where the job can be submitted without
 * waiting for it ({@link Aggregation#submitsAhead}).
 */
final class NextStep {
    private final WeightBlocks weights;
    private final Aggregation.Pending job;

    private NextStep(WeightBlocks weights, Aggregation.Pending job) {
        this.weights = weights;
        this.job = job;
    }

    /** Submits step's job over params as they will be once {@link #start} is called. */
    static NextStep submit(JavaSparkContext sc, Aggregation aggregation, JavaRDD<TokenWindows> windows, float[] params,
                           GradientStep.Plan plan, int step, String description) {
        WeightBlocks weights = WeightBlocks.later(params, plan.blockFloats());
        sc.setJobDescription(description);
        return new NextStep(weights, aggregation.submit(windows, GradientStep.train(weights, plan, step)));
    }

    /** The weights are written: the waiting tasks go on. */
    WeightBlocks start() {
        weights.publish();
        return weights;
    }

    Aggregation.Pending job() {
        return job;
    }

    /**
     * The run stops before this step: the job is cancelled (its waiting task is killed: no task error in the
     * log), and has ended when this returns.
     */
    void abandon() {
        job.cancel();
        try {
            job.await();
        } catch (RuntimeException ignored) {
            // cancelled
        } finally {
            weights.abandon(); // nothing waits any more; a task would fail instead of waiting
            weights.destroy();
        }
    }
}
