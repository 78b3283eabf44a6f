// The next step's Spark job, submitted while this step computes, over weights its update will write.
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
 * after the update: the same bits.
 * <p>
 * On a cluster, with weights the driver serves (aggregation = stream, fp32), step s+1's job is submitted as soon
 * as step s's job is done, before the update, over {@link WeightBlocks#served} blocks that the update puts as it
 * finishes each ({@link #written}, in the order the forward pass reads them): the tasks launch while the driver
 * clips and updates, and their forward pass runs through the first layers while the driver still updates the last.
 * Before, the update, the weights' put, the job's launch and the first block's fetch came one after another
 * between two steps' compute (27, 25, 16 and ~15 ms a step for the bench model on two executors). Not earlier than
 * the end of step s's job: a task of step s+1 would hold the core that a speculative copy of a step-s straggler
 * needs, and wait there for weights that need that copy.
 * <p>
 * Only for a plain training step (no eval or checkpoint before it), and only where the job can be submitted
 * without waiting for it ({@link Aggregation#submitsAhead}).
 */
final class NextStep {
    private final WeightBlocks weights;
    private final Aggregation.Pending job;

    private NextStep(WeightBlocks weights, Aggregation.Pending job) {
        this.weights = weights;
        this.job = job;
    }

    /**
     * Submits step's job over params as they will be once {@link #start} is called: in this JVM (local mode), or
     * served from the driver's block manager in blocks cut at servedCuts (non-null: a cluster).
     */
    static NextStep submit(JavaSparkContext sc, Aggregation aggregation, JavaRDD<TokenWindows> windows, float[] params,
                           GradientStep.Plan plan, int step, String description, long[] servedCuts) {
        WeightBlocks weights = servedCuts != null ? WeightBlocks.served(sc, params.length, plan.blockFloats(), servedCuts)
                : WeightBlocks.later(params, plan.blockFloats());
        sc.setJobDescription(description);
        try {
            return new NextStep(weights, aggregation.submit(windows, GradientStep.train(weights, plan, step)));
        } catch (RuntimeException | Error e) {
            weights.destroy();
            throw e;
        }
    }

    /** The update has written params up to upTo: the served blocks inside go out. */
    void written(float[] params, long upTo) {
        weights.written(params, upTo);
    }

    /** Whether a block of served weights has gone out (local mode: never, the weights are published whole). */
    boolean firstOut() {
        return weights.firstOut();
    }

    /** The weights are written (served: every block is put by now): the waiting tasks go on. */
    WeightBlocks start(float[] params) {
        weights.written(params, params.length);
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
