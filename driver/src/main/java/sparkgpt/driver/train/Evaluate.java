// `sparkgpt eval`: a checkpoint's loss and perplexity on a data directory's val split, on Spark.
package sparkgpt.driver.train;

import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.config.ClusterConfig;
import sparkgpt.driver.config.DataConfig;
import sparkgpt.driver.config.Key;
import sparkgpt.driver.config.KeyGroup;
import sparkgpt.driver.config.Settings;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.data.TokenShards;
import sparkgpt.driver.data.TokenWindows;
import sparkgpt.driver.step.GradientStep;
import sparkgpt.worker.GptConfig;

/** The val split in order, in batches of batch_size windows, forward only: the eval of the training loop. */
public final class Evaluate {
    private Evaluate() {}

    public record Config(String checkpoint, String data, int blockSize, int batchSize, int microBatchSize, int evalBatches,
                         int partitions, String device, String master) {
        public static final Key<String> CHECKPOINT = Key.string("checkpoint", "",
                "required: a checkpoint directory, a Hugging Face GPT-2 directory or an llm.c .bin")
                .check(x -> !x.isBlank(), "a checkpoint directory (out_dir/step_NNNNNN)");
        public static final Key<String> DATA = Key.string("data", "", "required: a prepared directory (its val_*.bin shards)")
                .check(x -> !x.isBlank(), "a prepared data directory with val_*.bin shards");
        public static final Key<Integer> BLOCK_SIZE = Key.integer("block_size", 0, "context per window; 0: the model's n_positions")
                .check(Key.atLeast(0), "0 (n_positions) or a context length");
        public static final Key<Integer> BATCH_SIZE = Key.integer("batch_size", 8, "windows per Spark job")
                .check(Key.atLeast(1), "a positive integer");
        public static final Key<Integer> MICRO_BATCH_SIZE = Key.integer("micro_batch_size", 4,
                "windows per forward pass on one executor")
                .check(Key.atLeast(1), "a positive integer");
        public static final Key<Integer> EVAL_BATCHES = Key.integer("eval_batches", 0, "0: every whole batch of the val split")
                .check(Key.atLeast(0), "0 (all) or a positive count");
        public static final Key<Integer> PARTITIONS = Key.integer("partitions", 0, "0: one per executor (one in local mode)")
                .check(Key.atLeast(0), "0 (one per executor) or a positive count");
        public static final List<KeyGroup> GROUPS = List.of(new KeyGroup("eval", List.of(CHECKPOINT, DATA, BLOCK_SIZE,
                BATCH_SIZE, MICRO_BATCH_SIZE, EVAL_BATCHES, PARTITIONS, ClusterConfig.DEVICE, ClusterConfig.MASTER)));

        public static Config from(Settings s) {
            Config c = new Config(s.get(CHECKPOINT), s.get(DATA), s.get(BLOCK_SIZE), s.get(BATCH_SIZE),
                    s.get(MICRO_BATCH_SIZE), s.get(EVAL_BATCHES), s.get(PARTITIONS), s.get(ClusterConfig.DEVICE),
                    s.get(ClusterConfig.MASTER));
            if (c.batchSize % c.microBatchSize != 0) {
                throw s.bad("batch_size", c.batchSize, "a multiple of micro_batch_size = " + c.microBatchSize);
            }
            return c;
        }
    }

    /** Prints and returns the mean val loss per token. */
    public static double run(JavaSparkContext sc, Config c) {
        Configuration hadoop = sc.hadoopConfiguration();
        Checkpoint.Model loaded = Checkpoint.readModel(hadoop, c.checkpoint());
        GptConfig shape = loaded.config();
        int T = c.blockSize() > 0 ? c.blockSize() : shape.nPositions();
        if (T > shape.nPositions()) {
            throw new UserError("block_size = " + T + " is larger than n_positions = " + shape.nPositions() + " of "
                    + c.checkpoint());
        }
        GptConfig model = shape.withBlockSize(T);
        TokenShards.Meta meta = TokenShards.readMeta(hadoop, c.data());
        if (meta != null && meta.vocabSize() > model.vocabSize()) {
            throw new UserError(c.data() + "/meta.json has vocabulary " + meta.vocabSize() + ", larger than the model's "
                    + model.vocabSize() + " (" + c.checkpoint() + ")");
        }
        TokenShards.Split val = TokenShards.split(hadoop, c.data(), "val");
        long windows = Math.max(0, (val.tokens() - 1) / T);
        if (windows == 0) {
            throw new UserError(c.data() + ": the val split has " + val.tokens() + " tokens, fewer than block_size + 1 = "
                    + (T + 1) + " (no val_*.bin shards?)");
        }
        int partitions = c.partitions() > 0 ? c.partitions() : StartingPoint.defaultPartitions(sc);
        int B = c.batchSize(), m = c.microBatchSize();
        if (B % (partitions * m) != 0) throw new UserError(DataConfig.batchArithmetic(B, partitions, m));
        int batches = c.evalBatches() > 0 ? c.evalBatches() : (int) Math.max(1, windows / B);
        GradientStep.Plan plan = new GradientStep.Plan(model, m, c.device(), B, partitions, false, 0);
        ExecutorMemory.check(sc, model, m, B / partitions, false, false, true, partitions);
        JavaRDD<TokenWindows> valWindows = TokenWindows.open(sc, val, windows, partitions, false, T, model.vocabSize());
        ExecutorMemory.Watch outOfMemory = new ExecutorMemory.Watch(sc);
        boolean done = false;
        try {
            double loss = Trainer.evaluate(sc, valWindows, loaded.params(), plan, batches, "eval");
            System.out.printf(Locale.ROOT, "val loss %.4f, perplexity %.2f (%d batches of %d windows of %d tokens, %s)%n",
                    loss, Math.exp(loss), batches, B, T, c.data());
            done = true;
            return loss;
        } catch (Exception e) {
            throw outOfMemory.rethrow(e);
        } finally {
            outOfMemory.stop();
            // done: wait for the executors to drop the cached partitions, so the context stops after their replies (else
            // Spark logs "ERROR TransportResponseHandler: Still have 1 requests outstanding" when it closes a
            // connection with the reply in flight); after a failure, don't wait on executors that may not answer
            valWindows.unpersist(done);
        }
    }
}
