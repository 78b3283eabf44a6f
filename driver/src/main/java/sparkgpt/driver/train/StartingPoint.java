// Where a train run starts (scratch, out_dir's latest checkpoint, a Hugging Face directory or an llm.c
// file) and everything checked before the first write to out_dir: data, vocabulary, model shape, batch.
package sparkgpt.driver.train;

import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.checkpoint.OutDir;
import sparkgpt.driver.config.DataConfig;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.data.BundledCorpus;
import sparkgpt.driver.data.TokenShards;
import sparkgpt.worker.Gpt;
import sparkgpt.worker.GptConfig;

/**
 * The run's first state. resumed: the checkpoint it continues (null for a new run); model and params: the
 * shape and weights the first step sees; the data directory, its splits and window counts; the partition
 * count. What the loop carries from step to step (the step, the best val loss, the streak of skipped steps)
 * starts from the checkpoint's, so a resumed run computes and stops where the uninterrupted one does.
 */
record StartingPoint(OutDir.Start outDir, Checkpoint.Loaded resumed, GptConfig model, float[] params, String tokenizer,
                     String dataDir, TokenShards.Split train, TokenShards.Split val, long trainWindows, long valWindows,
                     int partitions, int firstStep, double bestVal, int badInARow) {

    /** A run that resumed at or past max_steps: nothing to train. */
    boolean finished(int maxSteps) {
        return resumed != null && firstStep >= maxSteps;
    }

    static StartingPoint resolve(JavaSparkContext sc, TrainConfig cfg) {
        Configuration hadoop = sc.hadoopConfiguration();
        // out_dir holds one run: another one there stops this run, unless overwrite or a YARN retry (OutDir)
        OutDir.Start start = OutDir.start(hadoop, cfg.output().outDir(), cfg.output().initFrom(), cfg.output().overwrite(),
                sc.sc().applicationId(), SparkSetup.attemptId(sc));
        Checkpoint.Loaded resumed = null;
        Checkpoint.Model pretrained = null;
        String initFrom = cfg.output().initFrom();
        if (start.checkpoint() != null) {
            resumed = Checkpoint.load(hadoop, start.checkpoint());
            pretrained = resumed.model();
            Checkpoint.State st = resumed.state();
            System.out.printf(Locale.ROOT, "resuming from %s at step %d%s%n", start.checkpoint(), st.step(),
                    st.badStepsInARow() > 0 ? " (the last " + st.badStepsInARow() + " step(s) not finite: they count"
                            + " towards max_bad_steps)" : "");
            if (st.step() >= cfg.schedule().maxSteps()) {
                System.out.printf(Locale.ROOT, "already at step %d of max_steps = %d: nothing to do%n", st.step(),
                        cfg.schedule().maxSteps());
                return new StartingPoint(start, resumed, pretrained.config(), pretrained.params(), pretrained.tokenizer(),
                        null, null, null, 0, 0, st.partitions(), st.step(), st.bestValLoss(), st.badStepsInARow());
            }
        } else if (!initFrom.equals("scratch") && !initFrom.equals("resume")) {
            pretrained = Checkpoint.readModel(hadoop, initFrom);
            System.out.println("initialized from " + initFrom);
        }

        // ---- data: meta.json (or bare llm.c shards), the vocabulary, the windows ----
        String dataDir = BundledCorpus.directory(sc, cfg.data().dir());
        TokenShards.Meta meta = TokenShards.readMeta(hadoop, dataDir);
        int vocabSize = cfg.model().vocabSize();
        if (pretrained != null) {
            vocabSize = pretrained.config().vocabSize();
            if (meta != null && vocabSize < meta.vocabSize()) {
                throw new UserError(initFrom + " has vocab_size " + vocabSize + ", smaller than the data's vocabulary "
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
        int T = cfg.model().blockSize();
        TokenShards.Split trainSplit = TokenShards.split(hadoop, dataDir, "train");
        TokenShards.Split valSplit = TokenShards.split(hadoop, dataDir, "val");
        long windows = Math.max(0, (trainSplit.tokens() - 1) / T);
        if (windows == 0) {
            throw new UserError(dataDir + ": the train split has " + trainSplit.tokens() + " tokens, fewer than block_size + 1 = "
                    + (T + 1) + " (no train_*.bin shards?)");
        }
        long valWindows = Math.max(0, (valSplit.tokens() - 1) / T);

        // ---- cluster shape and batch arithmetic ----
        int partitions = cfg.data().partitions() > 0 ? cfg.data().partitions() : defaultPartitions(sc);
        int B = cfg.data().batchSize(), m = cfg.data().microBatchSize();
        if (B % (partitions * m) != 0) throw new UserError(DataConfig.batchArithmetic(B, partitions, m));
        if (cfg.data().shuffle() && windows / partitions == 0) {
            throw new UserError("partitions = " + partitions + " but the train split has only " + windows + " windows of "
                    + T + " tokens: use fewer partitions or shuffle=false");
        }
        if (resumed != null && resumed.state().partitions() != partitions && cfg.data().shuffle()) {
            System.out.printf(Locale.ROOT, "note: the checkpoint was trained on %d partitions, this run has %d: the shuffled"
                    + " order of the data differs from here on%n", resumed.state().partitions(), partitions);
        }

        // ---- the model: its shape from the starting point, else from the config; weights initialized on the driver ----
        GptConfig model;
        try {
            model = pretrained != null ? pretrained.config().withBlockSize(T)
                    : new GptConfig(cfg.model().nLayer(), cfg.model().nHead(), cfg.model().nEmbd(), T, vocabSize);
        } catch (IllegalArgumentException e) {
            throw new UserError(pretrained != null ? "block_size = " + T + " is larger than n_positions = "
                    + pretrained.config().nPositions() + " of " + (resumed != null ? resumed.dir() : initFrom)
                    : e.getMessage());
        }
        // the driver needs no kernels: weights are initialized on the host, the device is the executors'
        float[] params = pretrained != null ? pretrained.params() : Gpt.initialParameters(model, cfg.data().seed());
        Checkpoint.State st = resumed != null ? resumed.state() : null;
        return new StartingPoint(start, resumed, model, params, tokenizer, dataDir, trainSplit, valSplit, windows, valWindows,
                partitions, st != null ? st.step() : 0, st != null ? st.bestValLoss() : Double.POSITIVE_INFINITY,
                st != null ? st.badStepsInARow() : 0);
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
}
