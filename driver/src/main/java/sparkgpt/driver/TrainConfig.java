// The keys of `sparkgpt train`, with defaults that train a small model on a CPU; conf/*.properties override them.
package sparkgpt.driver;

import java.io.Serializable;

public record TrainConfig(
        String data, String outDir, String initFrom,
        int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize,
        int batchSize, int microBatchSize, int maxSteps,
        double learningRate, double minLr, int warmupSteps, double weightDecay, double beta1, double beta2,
        double gradClip, int evalInterval, int evalBatches, long seed, boolean shuffle, int partitions,
        String device, String master, double peakFlops, boolean timing) implements Serializable {

    public static TrainConfig from(Settings s) {
        TrainConfig c = new TrainConfig(
                s.string("data", "europarl-byte"),     // a prepared directory; europarl(-byte): the bundled corpus, prepared on first use
                s.string("out_dir", "out"),            // metrics.jsonl (and later checkpoints) go here
                s.choice("init_from", "scratch", "scratch"), // checkpoints come in a later change
                s.integer("n_layer", 4),               // a model a 2-core CPU trains in minutes (GPT-2 small: 12)
                s.integer("n_head", 4),                // head size 32 (GPT-2 small: 12 heads of 64)
                s.integer("n_embd", 128),              // (GPT-2 small: 768)
                s.integer("block_size", 128),          // context length T (GPT-2: 1024)
                s.integer("vocab_size", 0),            // 0: the data's meta.json; or more, e.g. 50304 to pad GPT-2's 50257
                s.integer("batch_size", 8),            // sequences per optimizer step over the whole cluster
                s.integer("micro_batch_size", 4),      // sequences per forward/backward on one executor (activation memory)
                s.integer("max_steps", 200),           // also the end of the cosine decay (nanoGPT's lr_decay_iters)
                s.real("learning_rate", 1e-3),         // small models take a higher peak lr (nanoGPT's shakespeare_char)
                s.real("min_lr", 1e-4),                // learning_rate / 10, per Chinchilla (nanoGPT)
                s.integer("warmup_steps", 20),         // linear warmup from ~0
                s.real("weight_decay", 0.1),           // on 2-D weights only (nanoGPT, GPT-3)
                s.real("beta1", 0.9),                  // nanoGPT / GPT-3
                s.real("beta2", 0.95),                 // nanoGPT / GPT-3 (0.99 for tiny batches)
                s.real("grad_clip", 1.0),              // global-norm clipping; 0 disables
                s.integer("eval_interval", 50),        // steps between val evaluations; 0 disables (the final one stays)
                s.integer("eval_batches", 4),          // val batches averaged per evaluation (nanoGPT's eval_iters)
                s.longInteger("seed", 1337),           // initialization and shuffling (nanoGPT's seed)
                s.bool("shuffle", true),               // a seeded order of windows per epoch; false = corpus order
                s.integer("partitions", 0),            // 0: one per executor (one in local mode), each using all its cores
                s.choice("device", "auto", "auto", "opencl", "cpu"), // kernels: auto picks OpenCL when a device exists
                s.string("master", "local[*]"),        // embedded Spark on all local cores, or spark://host:7077 ...
                s.real("peak_flops", 332.8e9),         // MFU's denominator: 2 cores x 2 FMA x 16 lanes x 2 x 2.6 GHz (fp32)
                s.bool("timing", false));              // add compute / broadcast / aggregate / update times to each step line
        positive(s, "batch_size", c.batchSize);
        positive(s, "micro_batch_size", c.microBatchSize);
        positive(s, "max_steps", c.maxSteps);
        positive(s, "eval_batches", c.evalBatches);
        if (c.vocabSize < 0) throw s.bad("vocab_size", c.vocabSize, "0 (from meta.json) or a positive vocabulary size");
        if (c.partitions < 0) throw s.bad("partitions", c.partitions, "0 (one per executor) or a positive count");
        if (c.evalInterval < 0) throw s.bad("eval_interval", c.evalInterval, "0 (off) or a positive step count");
        if (c.warmupSteps < 0) throw s.bad("warmup_steps", c.warmupSteps, "a step count >= 0");
        if (!(c.learningRate > 0)) throw s.bad("learning_rate", c.learningRate, "a positive number");
        if (!(c.minLr >= 0 && c.minLr <= c.learningRate)) throw s.bad("min_lr", c.minLr, "a number in [0, learning_rate]");
        if (!(c.beta1 >= 0 && c.beta1 < 1)) throw s.bad("beta1", c.beta1, "a number in [0, 1)");
        if (!(c.beta2 >= 0 && c.beta2 < 1)) throw s.bad("beta2", c.beta2, "a number in [0, 1)");
        if (!(c.weightDecay >= 0)) throw s.bad("weight_decay", c.weightDecay, "a number >= 0");
        if (!(c.gradClip >= 0)) throw s.bad("grad_clip", c.gradClip, "0 (off) or a positive norm");
        if (!(c.peakFlops > 0)) throw s.bad("peak_flops", c.peakFlops, "a positive FLOP/s figure");
        return c;
    }

    private static void positive(Settings s, String key, int v) {
        if (v <= 0) throw s.bad(key, v, "a positive integer");
    }

    /**
     * nanoGPT's get_lr: linear warmup to learning_rate over warmup_steps, cosine decay to min_lr at
     * max_steps, min_lr after. step counts from 0.
     */
    public double learningRate(int step) {
        if (step < warmupSteps) return learningRate * (step + 1) / (warmupSteps + 1);
        if (step >= maxSteps) return minLr;
        double ratio = (double) (step - warmupSteps) / Math.max(1, maxSteps - warmupSteps);
        double coeff = 0.5 * (1.0 + Math.cos(Math.PI * ratio));
        return minLr + coeff * (learningRate - minLr);
    }
}
