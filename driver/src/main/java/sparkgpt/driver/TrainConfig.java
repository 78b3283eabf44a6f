// The keys of `sparkgpt train`, with defaults that train a small model on a CPU; conf/*.properties override them.
package sparkgpt.driver;

import java.io.Serializable;
import java.util.Locale;
import java.util.Map;
import sparkgpt.kernels.cpu.FmaPeak;

public record TrainConfig(
        String data, String outDir, String initFrom, boolean overwrite,
        int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize,
        int batchSize, int microBatchSize, int maxSteps,
        double learningRate, double minLr, int warmupSteps, int lrDecaySteps, double weightDecay, double beta1, double beta2,
        double gradClip, int maxBadSteps, int evalInterval, int evalBatches, long seed, boolean shuffle, int partitions,
        int ckptInterval, int keepCheckpoints,
        String device, String master, double peakFlops, boolean timing,
        double transferBlockMb, String aggregation, String gradDtype, String weightDtype, boolean checkMemory,
        Map<String, String> resolved) implements Serializable {

    public static TrainConfig from(Settings s) {
        TrainConfig c = new TrainConfig(
                s.string("data", "europarl-byte"),     // a prepared directory; europarl(-byte): the bundled corpus, prepared on first use
                s.string("out_dir", "out"),            // metrics.jsonl, step_NNNNNN/ checkpoints, `latest`, run.json (any Hadoop FS URI)
                s.string("init_from", "scratch"),      // scratch | resume (out_dir/latest, else scratch) | a HF GPT-2 dir | an llm.c .bin
                s.bool("overwrite", false),            // a run that does not resume into an out_dir holding a run: false stops (exit 2),
                                                       // true removes the old run's files first; a run is never mixed into another
                s.integer("n_layer", 4),               // a model a 2-core CPU trains in minutes (GPT-2 small: 12)
                s.integer("n_head", 4),                // head size 32 (GPT-2 small: 12 heads of 64)
                s.integer("n_embd", 128),              // (GPT-2 small: 768)
                s.integer("block_size", 128),          // context length T (GPT-2: 1024)
                s.integer("vocab_size", 0),            // 0: the data's meta.json; or more, e.g. 50304 to pad GPT-2's 50257
                s.integer("batch_size", 8),            // sequences per optimizer step over the whole cluster
                s.integer("micro_batch_size", 4),      // sequences per forward/backward on one executor (activation memory)
                s.integer("max_steps", 200),           // optimizer steps in all (a resumed run counts those before it)
                s.real("learning_rate", 1e-3),         // small models take a higher peak lr (nanoGPT's shakespeare_char)
                s.real("min_lr", 1e-4),                // learning_rate / 10, per Chinchilla (nanoGPT)
                s.integer("warmup_steps", 20),         // linear warmup from ~0
                s.integer("lr_decay_steps", 0),        // end of the cosine decay; 0: max_steps (nanoGPT's lr_decay_iters)
                s.real("weight_decay", 0.1),           // on 2-D weights only (nanoGPT, GPT-3)
                s.real("beta1", 0.9),                  // nanoGPT / GPT-3
                s.real("beta2", 0.95),                 // nanoGPT / GPT-3 (0.99 for tiny batches)
                s.real("grad_clip", 1.0),              // global-norm clipping; 0 disables
                s.integer("max_bad_steps", 3),         // steps in a row with a NaN/Inf loss or gradient (each skipped) before the run stops
                s.integer("eval_interval", 50),        // steps between val evaluations; 0 disables (the final one stays)
                s.integer("eval_batches", 4),          // val batches averaged per evaluation (nanoGPT's eval_iters)
                s.longInteger("seed", 1337),           // initialization and shuffling (nanoGPT's seed)
                s.bool("shuffle", true),               // a seeded order of windows per epoch; false = corpus order
                s.integer("partitions", 0),            // 0: one per executor (one in local mode), each using all its cores
                s.integer("ckpt_interval", 100),       // steps between checkpoints (0: only at the end); GPT-2 124M writes 1.5 GB in ~3 s
                s.integer("keep_checkpoints", 3),      // newest step_* directories kept (never the latest); 0 keeps all
                s.choice("device", "auto", "auto", "opencl", "cpu"), // kernels: auto picks OpenCL when a device exists
                s.string("master", SparkSetup.defaultMaster()),        // embedded Spark on all local cores, or spark://host:7077 ...
                s.real("peak_flops", 0),               // MFU's denominator in FLOP/s; 0: this CPU's fp32 FMA peak, measured at start
                                                       // (0.3-1 s); a GPU: its datasheet figure (H200 fp32: 67e12)
                s.bool("timing", false),               // add compute / broadcast / aggregate / update times to each step line
                s.real("transfer_block_mb", WeightBlocks.DEFAULT_MB), // weights and gradients travel in blocks of this many MiB: far below the 2 GB
                                                       // limits of Java arrays / Kryo buffers, large enough that per-block costs vanish
                s.choice("aggregation", "auto", "auto", "tree", "sliced"), // gradient sum: auto = tree under 1 GB of gradient,
                                                       // sliced (reduceByKey over blocks) above, where it beat treeAggregate 1.4-2.5x
                s.choice("grad_dtype", "fp32", "fp32", "bf16"), // bf16 ships gradients at 16 bits (half the bytes), summed in fp32
                s.choice("weight_dtype", "fp32", "fp32", "bf16"), // bf16 broadcasts weights at 16 bits (half the bytes), expanded to
                                                       // fp32 on the executors; the driver keeps fp32 master weights and AdamW
                                                       // state (FSDP's param_dtype). fp32 by default: the forward sees exact weights
                s.bool("check_memory", true),         // compare what an executor needs (docs/scaling.md's estimate) with what
                                                       // Spark granted before the first step; false: trust the settings
                s.resolved());                         // what trainer_state.json records
        positive(s, "batch_size", c.batchSize);
        positive(s, "micro_batch_size", c.microBatchSize);
        positive(s, "max_steps", c.maxSteps);
        positive(s, "eval_batches", c.evalBatches);
        positive(s, "max_bad_steps", c.maxBadSteps);
        if (c.vocabSize < 0) throw s.bad("vocab_size", c.vocabSize, "0 (from meta.json) or a positive vocabulary size");
        if (c.partitions < 0) throw s.bad("partitions", c.partitions, "0 (one per executor) or a positive count");
        if (c.evalInterval < 0) throw s.bad("eval_interval", c.evalInterval, "0 (off) or a positive step count");
        if (c.lrDecaySteps < 0) throw s.bad("lr_decay_steps", c.lrDecaySteps, "0 (max_steps) or a step count");
        if (c.ckptInterval < 0) throw s.bad("ckpt_interval", c.ckptInterval, "0 (only at the end) or a step count");
        if (c.keepCheckpoints < 0) throw s.bad("keep_checkpoints", c.keepCheckpoints, "0 (keep all) or a count");
        if (c.initFrom.isEmpty()) throw s.bad("init_from", "''", "scratch, resume, a Hugging Face GPT-2 directory or an llm.c model file");
        if (c.warmupSteps < 0) throw s.bad("warmup_steps", c.warmupSteps, "a step count >= 0");
        if (!(c.learningRate > 0)) throw s.bad("learning_rate", c.learningRate, "a positive number");
        if (!(c.minLr >= 0 && c.minLr <= c.learningRate)) throw s.bad("min_lr", c.minLr, "a number in [0, learning_rate]");
        if (!(c.beta1 >= 0 && c.beta1 < 1)) throw s.bad("beta1", c.beta1, "a number in [0, 1)");
        if (!(c.beta2 >= 0 && c.beta2 < 1)) throw s.bad("beta2", c.beta2, "a number in [0, 1)");
        if (!(c.weightDecay >= 0)) throw s.bad("weight_decay", c.weightDecay, "a number >= 0");
        if (!(c.gradClip >= 0)) throw s.bad("grad_clip", c.gradClip, "0 (off) or a positive norm");
        if (!(c.transferBlockMb > 0 && c.transferBlockMb <= 1024)) {
            throw s.bad("transfer_block_mb", c.transferBlockMb, "a size in MiB in (0, 1024] (one block must stay under 2 GB)");
        }
        if (!(c.peakFlops >= 0 && Double.isFinite(c.peakFlops))) {
            throw s.bad("peak_flops", c.peakFlops, "0 (measure this CPU's fp32 FMA peak) or a positive FLOP/s figure, e.g. 332.8e9");
        }
        if (c.peakFlops > 0 && c.peakFlops < 1e6) { // no processor peaks under a MFLOP/s: a figure in GFLOP/s or TFLOP/s
            throw s.bad("peak_flops", c.peakFlops, "FLOP/s, not GFLOP/s or TFLOP/s (e.g. " + c.peakFlops + "e9 for "
                    + c.peakFlops + " GFLOP/s), or 0 to measure this CPU's fp32 FMA peak");
        }
        if (c.peakFlops == 0 && c.device.equals("opencl")) {
            throw s.bad("peak_flops", "0 (measure)", "the OpenCL device's peak from its datasheet, e.g. --peak_flops=67e12"
                    + " for an H200's fp32: only a CPU's FMA peak is measured");
        }
        return c;
    }

    /** Floats per weight / gradient block. */
    public int blockFloats() {
        return WeightBlocks.blockFloats(transferBlockMb);
    }

    /** tree or sliced for a model of size floats: auto picks sliced from 1 GB of fp32 gradient. */
    public String aggregationFor(long size) {
        if (!aggregation.equals("auto")) return aggregation;
        return 4 * size >= (1L << 30) ? "sliced" : "tree";
    }

    /** MFU's denominator in FLOP/s and how reports name it. */
    public record Peak(double flops, String source) {}

    /**
     * peak_flops as given, or (0) the fp32 FMA peak of this JVM's CPU, measured once ({@link FmaPeak}). With a
     * cluster that is the driver's CPU: the executors' hardware needs peak_flops given.
     */
    public Peak peak() {
        if (peakFlops > 0) return new Peak(peakFlops, String.format(Locale.ROOT, "peak_flops = %.4g (given)", peakFlops));
        FmaPeak.Result measured = FmaPeak.get();
        return new Peak(measured.flops(), measured.describe() + (master.startsWith("local")
                ? "" : " of the driver's CPU; the executors' may differ: give --peak_flops"));
    }

    private static void positive(Settings s, String key, int v) {
        if (v <= 0) throw s.bad(key, v, "a positive integer");
    }

    /**
     * nanoGPT's get_lr: linear warmup to learning_rate over warmup_steps, cosine decay to min_lr at
     * lr_decay_steps (0: max_steps), min_lr after. step counts from 0. A pure function of the step,
     * so a resumed run continues the same schedule.
     */
    public double learningRate(int step) {
        int decayEnd = lrDecaySteps > 0 ? lrDecaySteps : maxSteps;
        if (step < warmupSteps) return learningRate * (step + 1) / (warmupSteps + 1);
        if (step >= decayEnd) return minLr;
        double ratio = (double) (step - warmupSteps) / Math.max(1, decayEnd - warmupSteps);
        double coeff = 0.5 * (1.0 + Math.cos(Math.PI * ratio));
        return minLr + coeff * (learningRate - minLr);
    }
}
