// `sparkgpt train`: the training loop, top to bottom; one Spark job per optimizer step.
package sparkgpt.driver.train;

import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.checkpoint.MetricsLog;
import sparkgpt.driver.checkpoint.OutDir;
import sparkgpt.driver.config.ClusterConfig;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.data.TokenWindows;
import sparkgpt.driver.step.Aggregation;
import sparkgpt.driver.step.GradientStep;
import sparkgpt.driver.step.GradientSum;
import sparkgpt.driver.step.WeightBlocks;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;
import sparkgpt.worker.optim.GradientClip;
import sparkgpt.worker.optim.Optimizer;

/**
 * Spark MLlib's runMiniBatchSGD shape: broadcast the weights, every partition computes the gradient
 * of its share of the batch into one buffer, the {@link Aggregation} sums the partial gradients (in an order
 * fixed by partition index, see {@link GradientSum}, so a run is bit-for-bit repeatable), then
 * clip and the {@link Optimizer} on the driver. Where the run starts is {@link StartingPoint}'s; what each
 * step reports and guards is {@link StepLog}'s.
 */
public final class Trainer {
    private Trainer() {}

    /** What a run produced (for tests and callers): per-step train losses and timings, eval losses, final weights. */
    public record Result(List<Double> losses, List<double[]> valLosses, float[] params, List<StepTiming> timings,
                         double flopsPerToken, ClusterConfig.Peak peak) {}

    /**
     * Where one step's wall time went, in ms: forward and backward of the slowest partition, its
     * compute (those two, reading the windows and the setup around them), the slowest partition's reading
     * of its windows, the broadcast (driver + slowest fetch), the gradient sum (adds along the tree's slowest
     * path + the driver's final sum), the driver update; onCpu, the lowest share of compute time a partition's cpu
     * threads were running (NaN: not measured, or a device).
     */
    public record StepTiming(double stepMs, long forwardMs, long backwardMs, long computeMs, double dataMs,
                             long broadcastMs, long aggregateMs, long sumMs, long updateMs, double onCpu) {}

    public static Result train(JavaSparkContext sc, TrainConfig cfg) {
        Configuration hadoop = sc.hadoopConfiguration();
        StartingPoint start = StartingPoint.resolve(sc, cfg);
        GptConfig model = start.model();
        ParameterLayout layout = new ParameterLayout(model);
        if (start.finished(cfg.schedule().maxSteps())) {
            return new Result(List.of(), List.of(), start.params(), List.of(), layout.flopsPerToken(), null);
        }
        float[] params = start.params();
        Optimizer optimizer = cfg.optimizer().create(layout);
        if (start.resumed() != null) restore(optimizer, start.resumed());

        // ---- the step's plan, the gradient sum, each partition's windows (the shards opened on the executors) ----
        int B = cfg.data().batchSize(), T = model.blockSize(), partitions = start.partitions();
        int blockFloats = cfg.transfer().blockFloats();
        String aggregationKind = cfg.transfer().aggregationFor(layout.size(), sc.isLocal(), partitions);
        Aggregation aggregation = Aggregation.of(aggregationKind, layout.size(), blockFloats,
                StartingPoint.defaultPartitions(sc), layerStarts(layout));
        GradientStep.Plan plan = new GradientStep.Plan(model, cfg.data().microBatchSize(), cfg.cluster().device(), B,
                partitions, cfg.data().shuffle(), cfg.data().seed(), blockFloats, cfg.transfer().gradDtype().equals("bf16"),
                aggregationKind.equals("tree"));
        if (cfg.cluster().checkMemory()) {
            // stream holds one copy of the gradient, in the block manager, as a lent gradient's result does
            ExecutorMemory.check(sc, model, plan.microBatchSize(), plan.perPartition(), true, !aggregationKind.equals("sliced"),
                    cfg.transfer().weightDtype().equals("fp32") && cfg.transfer().gradDtype().equals("fp32"), partitions);
        }
        // weight_dtype = bf16: each step broadcasts the weights rounded to bfloat16; params, the optimizer state and
        // the checkpoints stay fp32, and an eval broadcasts fp32 (val losses comparable across runs)
        boolean weightsBf16 = cfg.transfer().weightDtype().equals("bf16");
        boolean serveWeights = aggregationKind.equals("stream") && !weightsBf16;
        JavaRDD<TokenWindows> trainWindows = TokenWindows.open(sc, start.train(), start.trainWindows(), partitions,
                cfg.data().shuffle(), T, model.vocabSize());
        boolean evaluate = start.valWindows() > 0;
        JavaRDD<TokenWindows> valWindows = evaluate ? TokenWindows.open(sc, start.val(), start.valWindows(), partitions, false,
                T, model.vocabSize()) : null;
        describe(sc, cfg, start, layout, aggregation, aggregationKind.equals("stream"), serveWeights, evaluate);

        // every check has passed: the first write to out_dir (a run that starts anew removes an old one and marks out_dir)
        if (start.resumed() == null) OutDir.begin(hadoop, cfg.output().outDir(), start.outDir(), sc.sc().applicationId());
        ExecutorMemory.Watch outOfMemory = new ExecutorMemory.Watch(sc); // one line, not retries, when an executor runs out
        boolean done = false;
        int first = start.firstStep();
        // each step's job is submitted one step ahead, over weights it waits for (NextStep): in local mode with fp32
        // weights, and on a cluster with the weights the driver serves, which the update puts block by block
        boolean ahead = (sc.isLocal() ? !weightsBf16 : serveWeights) && aggregation.submitsAhead(partitions);
        NextStep next = null;
        long[] layerStarts = layerStarts(layout);
        try (MetricsLog metrics = MetricsLog.open(hadoop, cfg.output().outDir(), start.resumed() != null ? first : -1)) {
            StepLog log = new StepLog(sc, cfg, metrics, layout.flopsPerToken(), start.bestVal(), start.badInARow());
            for (int step = first; ; step++) {
                boolean end = step == cfg.schedule().maxSteps();
                // a resumed run's first step had its eval and checkpoint done before the checkpoint was written
                boolean fresh = step > first || start.resumed() == null;
                if (evaluate && fresh && (end || due(step, cfg.output().evalInterval()))) {
                    log.eval(step, evaluate(sc, valWindows, params, plan, cfg.output().evalBatches(),
                            log.jobDescription("eval at step " + step)));
                }
                if (step > first && (end || due(step, cfg.output().ckptInterval()))) {
                    checkpoint(hadoop, cfg, start, params, optimizer, step, log);
                }
                if (end) break;
                double lr = cfg.schedule().learningRate(step);

                // one distributed step: broadcast, per-partition gradients, their ordered sum (a job submitted a
                // step ahead has waited for its weights: they are written now)
                log.stepStarted();
                NextStep submitted = next;
                WeightBlocks weights;
                Aggregation.Pending job;
                if (submitted != null) {
                    weights = submitted.start(params);
                    job = submitted.job();
                } else {
                    // with stream's few executors the driver serves fp32 weight blocks itself (no torrent pieces)
                    weights = serveWeights ? WeightBlocks.served(sc, params, blockFloats, layerStarts)
                            : WeightBlocks.broadcast(sc, params, blockFloats, weightsBf16, layerStarts);
                    sc.setJobDescription(log.jobDescription("step " + (step + 1)));
                    job = aggregation.submit(trainWindows, GradientStep.train(weights, plan, step));
                }
                log.broadcastDone();
                // local mode submits the next step's job at once: its task starts on the core this step's task frees.
                // A cluster submits it once this step's job is done: a task of it launched earlier could hold the core
                // a speculative copy of this step's straggler needs, and wait there for weights that need that copy
                boolean nextAhead = ahead && plain(step + 1, cfg, evaluate);
                next = nextAhead && sc.isLocal() ? NextStep.submit(sc, aggregation, trainWindows, params, plan, step + 1,
                        log.jobDescription("step " + (step + 2)), null) : null;
                Aggregation.Sum sum = job.await();
                weights.destroy(); // its job is done; the update below may now write params
                log.summed();
                if (nextAhead && !sc.isLocal()) {
                    next = NextStep.submit(sc, aggregation, trainWindows, params, plan, step + 1,
                            log.jobDescription("step " + (step + 2)), layerStarts);
                }

                // the update on the driver, unless the loss or the gradient is not finite: a NaN or an Inf
                // would reach every weight and the optimizer state, so that step's update is skipped
                double loss = sum.stats().lossSum() / ((double) B * T);
                double norm = GradientClip.clip(sum.gradients(), cfg.optimizer().gradClip());
                boolean finite = Double.isFinite(loss) && Double.isFinite(norm);
                // the next step's served weights go out as the update finishes each block (its tasks wait for them)
                NextStep following = next;
                if (finite) {
                    optimizer.update(params, sum.gradients(), (float) lr, upTo -> {
                        if (following == null) return;
                        following.written(params, upTo);
                        if (following.firstOut()) log.firstOut();
                    });
                }
                sum.release();
                log.step(step, loss, lr, norm, finite, sum.stats());
            }
            log.showLast();
            done = true;
            return new Result(log.losses, log.valLosses, params, log.timings, layout.flopsPerToken(), log.peak());
        } catch (Exception e) {
            throw outOfMemory.rethrow(e);
        } finally {
            if (next != null) next.abandon();
            outOfMemory.stop();
            // done: wait for the executors to drop the cached partitions, so the context stops after their replies (else
            // Spark logs "ERROR TransportResponseHandler: Still have 1 requests outstanding" when it closes a
            // connection with the reply in flight); after a failure, don't wait on executors that may not answer
            trainWindows.unpersist(done);
            if (valWindows != null) valWindows.unpersist(done);
        }
    }

    /**
     * Where each layer's weights start, and the final LayerNorm's: a step's weights go out in blocks cut there (and
     * still at most transfer_block_mb), in the order the forward pass reads them, so an executor's first forward
     * runs while later layers arrive (WeightBlocks.fetchInto).
     */
    static long[] layerStarts(ParameterLayout layout) {
        int L = layout.ln1w.length;
        long[] starts = new long[L + 1];
        for (int l = 0; l < L; l++) starts[l] = layout.ln1w[l];
        starts[L] = layout.lnfw;
        return starts;
    }

    /** Whether step is a training step with nothing before it (no eval, no checkpoint, not the end). */
    private static boolean plain(int step, TrainConfig cfg, boolean evaluate) {
        return step < cfg.schedule().maxSteps() && !(evaluate && due(step, cfg.output().evalInterval()))
                && !due(step, cfg.output().ckptInterval());
    }

    /** Every interval steps (0: never, besides the end). */
    private static boolean due(int step, int interval) {
        return interval > 0 && step % interval == 0;
    }

    /** The optimizer state a resumed run continues from, when the checkpoint was written by the same rule. */
    private static void restore(Optimizer optimizer, Checkpoint.Loaded resumed) {
        if (!optimizer.name().equals(resumed.state().optimizer())) {
            throw new UserError(resumed.dir() + " holds " + resumed.state().optimizer() + " state; this run's optimizer is "
                    + optimizer.name() + ": resume with the same optimizer, or start from its weights (init_from=DIR)");
        }
        optimizer.restore(resumed.optimizerState(), resumed.state().optimizerStep());
    }

    /** The state after `step` steps, written before step + 1 runs (badInARow counted through step `step`). */
    private static void checkpoint(Configuration hadoop, TrainConfig cfg, StartingPoint start, float[] params,
                                   Optimizer optimizer, int step, StepLog log) {
        long c0 = System.nanoTime();
        String dir = Checkpoint.write(hadoop, cfg.output().outDir(),
                new Checkpoint.Model(start.model(), params, start.tokenizer()), optimizer,
                new Checkpoint.State(step, optimizer.name(), optimizer.step(), log.bestVal(), log.badInARow(),
                        cfg.data().seed(), start.partitions(), cfg.data().batchSize(), cfg.data().shuffle(), cfg.resolved()),
                cfg.output().keepCheckpoints());
        System.out.printf(Locale.ROOT, "checkpoint %s (%.0f ms)%n", dir, (System.nanoTime() - c0) / 1e6);
    }

    /** What the run is about to do: cluster, data, model, batch, transfer and the MFU's denominator. */
    private static void describe(JavaSparkContext sc, TrainConfig cfg, StartingPoint start, ParameterLayout layout,
                                 Aggregation aggregation, boolean stream, boolean serveWeights, boolean evaluate) {
        GptConfig model = start.model();
        int B = cfg.data().batchSize(), T = model.blockSize(), m = cfg.data().microBatchSize();
        System.out.println(SparkSetup.describe(sc));
        System.out.printf(Locale.ROOT, "data %s: train %,d tokens (%,d windows of %d+1), val %,d tokens%s%n", start.dataDir(),
                start.train().tokens(), start.trainWindows(), T, start.val().tokens(), evaluate ? "" : " (too few: no eval)");
        System.out.printf(Locale.ROOT, "model: %,d parameters (%.1f MB), %d layers, %d heads, %d channels, context %d"
                        + " (n_positions %d), vocab %d%n", layout.size(), layout.size() * 4e-6, model.nLayer(), model.nHead(),
                model.nEmbd(), T, model.nPositions(), model.vocabSize());
        System.out.printf(Locale.ROOT, "step: %d sequences (%,d tokens) = %d partitions x %d micro-batches x %d; device %s"
                        + " (each executor logs the device it really uses); shuffle %s; optimizer %s%n",
                B, (long) B * T, start.partitions(), B / start.partitions() / m, m, cfg.cluster().device(), cfg.data().shuffle(),
                cfg.optimizer().optimizer());
        int blockFloats = cfg.transfer().blockFloats();
        int weightBlocks = WeightBlocks.blocksOf(layout.size(), blockFloats, layerStarts(layout));
        // stream's gradient blocks are cut like the weights (at each layer's start)
        int blocks = stream ? weightBlocks : WeightBlocks.count(layout.size(), blockFloats);
        int blockSize = Math.min(blockFloats, layout.size());
        boolean weightsBf16 = cfg.transfer().weightDtype().equals("bf16");
        System.out.printf(Locale.ROOT, "transfer: %d block(s) of up to %,d floats (%.3g MB), aggregation %s, weights %s%s"
                        + " in %d block(s) cut at each layer%s, gradients %s%n", blocks, blockSize, blockSize * 4 / 1048576.0,
                aggregation.describe(), cfg.transfer().weightDtype(), weightsBf16 ? " (eval: fp32)" : "", weightBlocks,
                serveWeights ? " served from the driver's block manager" : "",
                cfg.transfer().gradDtype());
    }

    /**
     * Mean loss over eval_batches batches of the val split, in order, forward only. The weights always travel
     * as fp32, whatever weight_dtype: val losses stay comparable across runs and measure the master weights.
     */
    static double evaluate(JavaSparkContext sc, JavaRDD<TokenWindows> valWindows, float[] params, GradientStep.Plan plan,
                           int batches, String description) {
        WeightBlocks weights = WeightBlocks.broadcast(sc, params, plan.blockFloats());
        sc.setJobDescription(description);
        GradientSum sum = valWindows.mapPartitionsWithIndex(GradientStep.eval(weights, plan, batches), false)
                .treeAggregate(new GradientSum(), GradientSum::add, GradientSum::merge);
        weights.destroyAndWait(); // `eval` stops the context right after: no removal may still be in flight
        return sum.lossSum() / ((double) batches * plan.batchSize() * plan.blockSize());
    }

}
