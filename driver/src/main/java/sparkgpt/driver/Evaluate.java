// `sparkgpt eval`: a checkpoint's loss and perplexity on a data directory's val split, on Spark.
package sparkgpt.driver;

import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import sparkgpt.worker.GptConfig;

/** The val split in order, in batches of batch_size windows, forward only: the eval of the training loop. */
public final class Evaluate {
    private Evaluate() {}

    public record Config(String checkpoint, String data, int blockSize, int batchSize, int microBatchSize, int evalBatches,
                         int partitions, String device, String master) {
        public static Config from(Settings s) {
            Config c = new Config(
                    s.string("checkpoint", ""),        // a checkpoint dir, a HF GPT-2 dir or an llm.c .bin
                    s.string("data", ""),              // a prepared directory (its val_*.bin shards)
                    s.integer("block_size", 0),        // context per window; 0: the model's n_positions
                    s.integer("batch_size", 8),        // windows per Spark job
                    s.integer("micro_batch_size", 4),  // windows per forward pass on one executor
                    s.integer("eval_batches", 0),      // 0: every whole batch of the val split
                    s.integer("partitions", 0),        // 0: one per executor (one in local mode)
                    s.choice("device", "auto", "auto", "opencl", "cpu"),
                    s.string("master", SparkSetup.defaultMaster()));
            if (c.checkpoint.isEmpty()) throw s.bad("checkpoint", "''", "a checkpoint directory (out_dir/step_NNNNNN)");
            if (c.data.isEmpty()) throw s.bad("data", "''", "a prepared data directory with val_*.bin shards");
            if (c.blockSize < 0) throw s.bad("block_size", c.blockSize, "0 (n_positions) or a context length");
            if (c.batchSize <= 0) throw s.bad("batch_size", c.batchSize, "a positive integer");
            if (c.microBatchSize <= 0) throw s.bad("micro_batch_size", c.microBatchSize, "a positive integer");
            if (c.evalBatches < 0) throw s.bad("eval_batches", c.evalBatches, "0 (all) or a positive count");
            if (c.partitions < 0) throw s.bad("partitions", c.partitions, "0 (one per executor) or a positive count");
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
        int partitions = c.partitions() > 0 ? c.partitions() : Trainer.defaultPartitions(sc);
        int B = c.batchSize(), m = c.microBatchSize();
        if (B % (partitions * m) != 0) throw new UserError(Trainer.batchArithmetic(B, partitions, m));
        int batches = c.evalBatches() > 0 ? c.evalBatches() : (int) Math.max(1, windows / B);
        GradientStep.Plan plan = new GradientStep.Plan(model, m, c.device(), B, partitions, false, 0);
        ExecutorMemory.check(sc, model, m, B / partitions, false, false, partitions);
        JavaRDD<TokenBlock> blocks = Trainer.blocks(sc, val, windows, partitions, false, T, model.vocabSize(), "val");
        ExecutorMemory.Watch outOfMemory = new ExecutorMemory.Watch(sc);
        boolean done = false;
        try {
            double loss = Trainer.evaluate(sc, blocks, loaded.params(), plan, batches, 0);
            System.out.printf(Locale.ROOT, "val loss %.4f, perplexity %.2f (%d batches of %d windows of %d tokens, %s)%n",
                    loss, Math.exp(loss), batches, B, T, c.data());
            done = true;
            return loss;
        } catch (Exception e) {
            throw outOfMemory.rethrow(e);
        } finally {
            outOfMemory.stop();
            // done: wait for the executors to drop the cached blocks, so the context stops after their replies (else
            // Spark logs "ERROR TransportResponseHandler: Still have 1 requests outstanding" when it closes a
            // connection with the reply in flight); after a failure, don't wait on executors that may not answer
            blocks.unpersist(done);
        }
    }
}
