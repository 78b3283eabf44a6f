// Where a run starts from and what it writes: out_dir, evaluations, checkpoints, the step line.
package sparkgpt.driver.config;

import java.io.Serializable;
import java.util.List;

public record OutputConfig(String outDir, String initFrom, boolean overwrite, int evalInterval, int evalBatches,
                           int ckptInterval, int keepCheckpoints, boolean timing) implements Serializable {
    public static final Key<String> OUT_DIR = Key.string("out_dir", "out",
            "metrics.jsonl, loss.png, step_NNNNNN/ checkpoints, latest and run.json (any Hadoop FS URI)")
            .check(x -> !x.isBlank(), "a directory (any Hadoop FS URI)");
    public static final Key<String> INIT_FROM = Key.string("init_from", "scratch",
            "scratch | resume (out_dir/latest, else scratch) | a Hugging Face GPT-2 directory | an llm.c model file")
            .check(x -> !x.isBlank(), "scratch, resume, a Hugging Face GPT-2 directory or an llm.c model file");
    public static final Key<Boolean> OVERWRITE = Key.bool("overwrite", false,
            "a run that does not resume into an out_dir holding a run: false stops (exit 2), true removes the old"
                    + " run's files first; a run is never mixed into another");
    public static final Key<Integer> EVAL_INTERVAL = Key.integer("eval_interval", 50,
            "steps between val evaluations; 0: only the final one")
            .check(Key.atLeast(0), "0 (off) or a positive step count");
    public static final Key<Integer> EVAL_BATCHES = Key.integer("eval_batches", 4,
            "val batches averaged per evaluation (nanoGPT's eval_iters)")
            .check(Key.atLeast(1), "a positive integer");
    public static final Key<Integer> CKPT_INTERVAL = Key.integer("ckpt_interval", 100,
            "steps between checkpoints; 0: only at the end (GPT-2 124M writes 1.5 GB in ~3 s)")
            .check(Key.atLeast(0), "0 (only at the end) or a step count");
    public static final Key<Integer> KEEP_CHECKPOINTS = Key.integer("keep_checkpoints", 3,
            "newest step_* directories kept (never the latest); 0 keeps all")
            .check(Key.atLeast(0), "0 (keep all) or a count");
    public static final Key<Boolean> TIMING = Key.bool("timing", false,
            "add the compute (of it, reading the windows: data) / broadcast / aggregate / update times to each step line");
    public static final List<Key<?>> KEYS = List.of(OUT_DIR, INIT_FROM, OVERWRITE, EVAL_INTERVAL, EVAL_BATCHES,
            CKPT_INTERVAL, KEEP_CHECKPOINTS, TIMING);

    public static OutputConfig from(Settings s) {
        return new OutputConfig(s.get(OUT_DIR), s.get(INIT_FROM), s.get(OVERWRITE), s.get(EVAL_INTERVAL),
                s.get(EVAL_BATCHES), s.get(CKPT_INTERVAL), s.get(KEEP_CHECKPOINTS), s.get(TIMING));
    }
}
