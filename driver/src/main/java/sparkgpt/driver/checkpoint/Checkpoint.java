// Checkpoint directories (a Hugging Face GPT-2 model plus optimizer and trainer state) and the other
// starting points of init_from, written and read through the Hadoop FileSystem API (file://, hdfs://, s3a://).
package sparkgpt.driver.checkpoint;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import sparkgpt.driver.config.UserError;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;
import sparkgpt.worker.io.FormatException;
import sparkgpt.worker.io.HuggingFaceWeights;
import sparkgpt.worker.io.Json;
import sparkgpt.worker.io.LlmcModelFile;
import sparkgpt.worker.io.SafeTensors;
import sparkgpt.worker.optim.Optimizer;

/**
 * A checkpoint is a directory {@code out_dir/step_NNNNNN/} holding
 * <ul>
 *   <li>{@code model.safetensors}: every weight under its Hugging Face name ({@code transformer.} prefix,
 *       Conv1D weights [in, out]), F32, {@code {"format": "pt"}}; lm_head is tied to wte and not stored;</li>
 *   <li>{@code config.json}: Hugging Face's GPT2Config fields, plus the tokenizer's name;</li>
 *   <li>{@code optimizer.safetensors}: each of the optimizer's named state tensors, NAME's slice for parameter P
 *       as {@code NAME.P} (AdamW: {@code exp_avg.P} and {@code exp_avg_sq.P}, torch.optim.AdamW's names), F32;</li>
 *   <li>{@code trainer_state.json}: the step, the optimizer's name and step count, the data position, the
 *       shuffle's seed, the best val loss, the count of non-finite (skipped) steps in a row and the resolved config.</li>
 * </ul>
 * It is written under {@code .step_NNNNNN.tmp} and renamed when complete; then {@code out_dir/latest},
 * a one-line text file naming the newest complete checkpoint, is replaced (written as
 * {@code latest.tmp}, then renamed over; HDFS's rename does not overwrite, so the old one is deleted
 * first). A crash at any moment therefore leaves every complete checkpoint intact; should it fall
 * between that delete and the rename, {@link #latest} finds no {@code latest} file and falls back to
 * the complete {@code step_*} directory with the highest step.
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static final String MODEL = "model.safetensors", CONFIG = "config.json",
            OPTIMIZER = "optimizer.safetensors", STATE = "trainer_state.json", LATEST = "latest";
    private static final Pattern STEP_DIR = Pattern.compile("step_(\\d+)");

    /** A model read from disk: its shape (block_size = n_positions), weights, and tokenizer (null: unknown). */
    public record Model(GptConfig config, float[] params, String tokenizer) {}

    /**
     * What an exact resume needs besides the weights. The batch of step s is a pure function of
     * (seed, s, partition) for a given partition count, and the lr schedule of s, so the step, the
     * seed and the partition count are the data position. badStepsInARow is the training loop's count of
     * skipped (non-finite) steps ending at this step: a resumed run goes on counting, so it stops at the
     * step max_bad_steps names, as the uninterrupted run would.
     */
    public record State(int step, String optimizer, int optimizerStep, double bestValLoss, int badStepsInARow, long seed,
                        int partitions, int batchSize, boolean shuffle, Map<String, String> config) {}

    /** A checkpoint directory read back; optimizerState: the optimizer's state tensors by name, flat. */
    public record Loaded(String dir, Model model, Map<String, float[]> optimizerState, State state) {}

    // ---------------------------------------------------------------- writing

    /**
     * Writes {@code out_dir/step_NNNNNN} atomically, points {@code latest} at it and deletes all but the
     * newest keep step directories (0 keeps all; the latest is never deleted). Returns its path.
     */
    public static String write(Configuration conf, String outDir, Model model, Optimizer optimizer, State state, int keep) {
        Path out = new Path(outDir);
        String name = String.format(Locale.ROOT, "step_%06d", state.step());
        Path dir = new Path(out, name), tmp = new Path(out, "." + name + ".tmp");
        // a checkpoint is a point to resume from: one holding a NaN or Inf is never written
        String nonFinite = firstNonFinite(model.params(), "weight");
        for (Map.Entry<String, float[]> t : optimizer.state().entrySet()) {
            if (nonFinite == null) nonFinite = firstNonFinite(t.getValue(), "optimizer state " + t.getKey());
        }
        if (nonFinite != null) {
            throw new UserError("not writing checkpoint " + dir + ": " + nonFinite + " (the run diverged;"
                    + " lower learning_rate or set grad_clip, then resume from " + LATEST + ")");
        }
        try {
            FileSystem fs = fileSystem(conf, out);
            fs.mkdirs(out);
            fs.delete(tmp, true);
            fs.mkdirs(tmp);
            ParameterLayout layout = new ParameterLayout(model.config());
            try (OutputStream o = new BufferedOutputStream(fs.create(new Path(tmp, MODEL), true), 1 << 20)) {
                HuggingFaceWeights.writer(layout, model.params()).writeTo(o);
            }
            SafeTensors.Writer opt = new SafeTensors.Writer().metadata("format", "pt")
                    .metadata("optimizer", optimizer.name()).metadata("step", String.valueOf(optimizer.step()));
            for (Map.Entry<String, float[]> tensor : optimizer.state().entrySet()) {
                for (ParameterLayout.Tensor t : layout.tensors()) {
                    long[] shape = Arrays.stream(t.shape()).asLongStream().toArray();
                    opt.f32Slice(tensor.getKey() + "." + t.name(), tensor.getValue(), t.offset(), t.size(), shape); // no copy
                }
            }
            try (OutputStream o = new BufferedOutputStream(fs.create(new Path(tmp, OPTIMIZER), true), 1 << 20)) {
                opt.writeTo(o);
            }
            writeText(fs, new Path(tmp, CONFIG), configJson(model.config(), model.tokenizer()));
            writeText(fs, new Path(tmp, STATE), stateJson(state));
            fs.delete(dir, true); // a step directory left by an abandoned run that went past this step
            if (!fs.rename(tmp, dir)) throw new IOException("cannot rename " + tmp + " to " + dir);

            replaceText(fs, new Path(out, LATEST), name + "\n");

            if (keep > 0) {
                List<FileStatus> steps = stepDirs(fs, out);
                for (int i = 0; i < steps.size() - keep; i++) {
                    if (!steps.get(i).getPath().getName().equals(name)) fs.delete(steps.get(i).getPath(), true);
                }
            }
            return dir.toString();
        } catch (IOException e) {
            throw new UserError("cannot write checkpoint " + dir + ": " + e.getMessage(), e);
        }
    }

    /** "NAME i is NaN" for the first element of a that is not finite, else null. */
    public static String firstNonFinite(float[] a, String name) {
        for (int i = 0; i < a.length; i++) {
            if (!Float.isFinite(a[i])) return name + " " + i + " is " + a[i];
        }
        return null;
    }

    /** Hugging Face's GPT2Config fields (what GPT2LMHeadModel.from_pretrained reads) and the tokenizer. */
    static String configJson(GptConfig c, String tokenizer) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_type", "gpt2");
        m.put("architectures", List.of("GPT2LMHeadModel"));
        m.put("n_layer", c.nLayer());
        m.put("n_head", c.nHead());
        m.put("n_embd", c.nEmbd());
        m.put("n_positions", c.nPositions());
        m.put("n_ctx", c.nPositions());
        m.put("vocab_size", c.vocabSize());
        m.put("layer_norm_epsilon", 1e-5);
        m.put("activation_function", "gelu_new");
        m.put("tie_word_embeddings", true);
        m.put("resid_pdrop", 0.0);
        m.put("embd_pdrop", 0.0);
        m.put("attn_pdrop", 0.0);
        if ("gpt2".equals(tokenizer)) {
            m.put("bos_token_id", 50256);
            m.put("eos_token_id", 50256);
        }
        m.put("torch_dtype", "float32");
        m.put("tokenizer", tokenizer == null ? "unknown" : tokenizer);
        return Json.writeLines(m);
    }

    static String stateJson(State s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", s.step());
        m.put("optimizer", s.optimizer());
        m.put("optimizer_step", s.optimizerStep());
        m.put("best_val_loss", Double.isFinite(s.bestValLoss()) ? s.bestValLoss() : null);
        m.put("bad_steps_in_a_row", s.badStepsInARow());
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("batches_done", s.step());
        data.put("batch_size", s.batchSize());
        data.put("partitions", s.partitions());
        data.put("shuffle", s.shuffle());
        m.put("data", data);
        Map<String, Object> rng = new LinkedHashMap<>();
        rng.put("seed", s.seed());
        rng.put("note", "batch s of partition p is drawn from SplittableRandom(seed, epoch, p): no other RNG state");
        m.put("rng", rng);
        m.put("config", new LinkedHashMap<>(s.config()));
        return Json.writeLines(m);
    }

    /**
     * Replaces a small text file whole: written under NAME.tmp, then renamed over (HDFS's rename does not
     * overwrite, so the old file is deleted first; a reader between the two finds none, never half of one).
     */
    static void replaceText(FileSystem fs, Path path, String text) throws IOException {
        Path tmp = new Path(path.getParent(), path.getName() + ".tmp");
        writeText(fs, tmp, text);
        fs.delete(path, false);
        if (!fs.rename(tmp, path)) throw new IOException("cannot rename " + tmp + " to " + path);
    }

    private static void writeText(FileSystem fs, Path path, String text) throws IOException {
        try (OutputStream o = fs.create(path, true)) {
            o.write(text.getBytes(StandardCharsets.UTF_8));
        }
    }

    // ---------------------------------------------------------------- finding

    /**
     * The newest complete checkpoint of out_dir: the one {@code latest} names, or when that file is
     * missing (a crash between its delete and rename) or names a missing directory, the complete
     * {@code step_*} directory with the highest step. Null when there is none.
     */
    public static String latest(Configuration conf, String outDir) {
        Path out = new Path(outDir);
        try {
            FileSystem fs = fileSystem(conf, out);
            if (!fs.exists(out)) return null;
            Path latest = new Path(out, LATEST);
            if (fs.exists(latest)) {
                String name = readText(fs, latest).trim();
                Path dir = new Path(out, name);
                if (STEP_DIR.matcher(name).matches() && complete(fs, dir)) return dir.toString();
                System.out.println("warning: " + latest + " names '" + name + "', not a complete checkpoint;"
                        + " using the newest complete step_* directory");
            }
            List<FileStatus> steps = stepDirs(fs, out);
            for (int i = steps.size() - 1; i >= 0; i--) {
                Path dir = new Path(out, steps.get(i).getPath().getName());
                if (complete(fs, dir)) return dir.toString();
            }
            return null;
        } catch (IOException e) {
            throw new UserError("cannot read " + out + ": " + e.getMessage(), e);
        }
    }

    private static boolean complete(FileSystem fs, Path dir) throws IOException {
        for (String f : List.of(MODEL, CONFIG, OPTIMIZER, STATE)) if (!fs.exists(new Path(dir, f))) return false;
        return true;
    }

    /** The step_NNNNNN directories of out, by step. */
    private static List<FileStatus> stepDirs(FileSystem fs, Path out) throws IOException {
        List<FileStatus> dirs = new ArrayList<>();
        for (FileStatus f : fs.listStatus(out)) {
            if (f.isDirectory() && STEP_DIR.matcher(f.getPath().getName()).matches()) dirs.add(f);
        }
        dirs.sort((a, b) -> Long.compare(stepOf(a.getPath()), stepOf(b.getPath())));
        return dirs;
    }

    /** The step of a step_NNNNNN path; -1 for any other name. */
    static long stepOf(Path p) {
        Matcher m = STEP_DIR.matcher(p.getName());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    // ---------------------------------------------------------------- reading

    /** A sparkgpt checkpoint directory with its optimizer and trainer state (to resume from). */
    public static Loaded load(Configuration conf, String dir) {
        Model model = readModel(conf, dir);
        Path d = new Path(dir);
        ParameterLayout layout = new ParameterLayout(model.config());
        Map<String, float[]> optimizerState;
        Path optPath = new Path(d, OPTIMIZER), statePath = new Path(d, STATE);
        try {
            FileSystem fs = fileSystem(conf, d);
            try (InputStream in = open(fs, optPath)) {
                optimizerState = readOptimizerState(SafeTensors.open(in, optPath.toString()), layout);
            }
            Map<String, Object> s = object(Json.parse(readText(fs, statePath), statePath.toString()), statePath);
            Map<String, Object> data = object(field(s, "data", statePath), statePath);
            Map<String, Object> rng = object(field(s, "rng", statePath), statePath);
            Object best = field(s, "best_val_loss", statePath);
            Map<String, String> config = new LinkedHashMap<>();
            object(field(s, "config", statePath), statePath).forEach((k, x) -> config.put(k, String.valueOf(x)));
            // absent from checkpoints written before it was saved: those resume with no streak, as they always did
            int badSteps = s.containsKey("bad_steps_in_a_row") ? integer(s, "bad_steps_in_a_row", statePath) : 0;
            if (badSteps < 0) {
                throw new UserError(statePath + ": \"bad_steps_in_a_row\" is " + badSteps + ", expected an integer >= 0");
            }
            // checkpoints written before the optimizer was named hold AdamW's state under adamw_step
            String optimizer = s.containsKey("optimizer") ? String.valueOf(s.get("optimizer")) : "adamw";
            int optimizerStep = s.containsKey("optimizer_step") ? integer(s, "optimizer_step", statePath)
                    : integer(s, "adamw_step", statePath);
            State state = new State(integer(s, "step", statePath), optimizer, optimizerStep,
                    best == null ? Double.POSITIVE_INFINITY : number(best, "best_val_loss", statePath), badSteps,
                    (long) number(field(rng, "seed", statePath), "seed", statePath),
                    integer(data, "partitions", statePath), integer(data, "batch_size", statePath),
                    Boolean.TRUE.equals(field(data, "shuffle", statePath)), config);
            return new Loaded(dir, model, optimizerState, state);
        } catch (FormatException e) {
            throw new UserError(e.getMessage(), e);
        } catch (IOException e) {
            throw new UserError("cannot read checkpoint " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * A model from any starting point init_from, sample and eval accept: a checkpoint or Hugging Face
     * GPT-2 directory ({@code model.safetensors} + {@code config.json}, names with or without the
     * {@code transformer.} prefix), or an llm.c model file (version 3, float32), told apart by its header.
     */
    public static Model readModel(Configuration conf, String path) {
        Path p = new Path(path);
        try {
            FileSystem fs = fileSystem(conf, p);
            FileStatus status;
            try {
                status = fs.getFileStatus(p);
            } catch (FileNotFoundException e) {
                throw new UserError(path + " does not exist (expected a checkpoint or Hugging Face GPT-2 directory,"
                        + " or an llm.c model file)");
            }
            if (status.isFile()) {
                try (InputStream in = fs.open(p)) {
                    LlmcModelFile.Model m = LlmcModelFile.read(in, p.toString());
                    // llm.c's GPT-2 files carry GPT-2's vocabulary
                    return new Model(m.config(), m.params(), m.config().vocabSize() == 50257 ? "gpt2" : null);
                }
            }
            Path configPath = new Path(p, CONFIG), modelPath = new Path(p, MODEL);
            if (!fs.exists(configPath) || !fs.exists(modelPath)) {
                throw new UserError(path + " is a directory without " + (fs.exists(configPath) ? MODEL : CONFIG)
                        + " (expected a checkpoint or Hugging Face GPT-2 directory: model.safetensors + config.json)");
            }
            Map<String, Object> c = object(Json.parse(readText(fs, configPath), configPath.toString()), configPath);
            Object type = c.get("model_type");
            if (type != null && !"gpt2".equals(type)) {
                throw new UserError(configPath + ": model_type is " + Json.write(type) + ", expected \"gpt2\"");
            }
            Object eps = c.get("layer_norm_epsilon");
            if (eps != null && number(eps, "layer_norm_epsilon", configPath) != 1e-5) {
                throw new UserError(configPath + ": layer_norm_epsilon is " + eps + ", expected 1e-05 (GPT-2's)");
            }
            Object act = c.get("activation_function");
            if (act != null && !"gelu_new".equals(act) && !"gelu_pytorch_tanh".equals(act)) {
                throw new UserError(configPath + ": activation_function is " + Json.write(act)
                        + ", expected \"gelu_new\" (GPT-2's tanh GELU)");
            }
            if (Boolean.FALSE.equals(c.get("tie_word_embeddings"))) {
                throw new UserError(configPath + ": tie_word_embeddings is false; sparkgpt's lm_head is tied to wte");
            }
            int positions = c.containsKey("n_positions") ? integer(c, "n_positions", configPath) : integer(c, "n_ctx", configPath);
            GptConfig config;
            try {
                config = new GptConfig(integer(c, "n_layer", configPath), integer(c, "n_head", configPath),
                        integer(c, "n_embd", configPath), positions, integer(c, "vocab_size", configPath), positions);
            } catch (IllegalArgumentException e) {
                throw new UserError(configPath + " describes an invalid model: " + e.getMessage());
            }
            Object tok = c.get("tokenizer");
            String tokenizer = tok instanceof String s && !s.equals("unknown") ? s
                    : tok == null && config.vocabSize() >= 50257 ? "gpt2" : null; // OpenAI's GPT-2 on the hub
            ParameterLayout layout = new ParameterLayout(config);
            float[] params = new float[layout.size()];
            try (InputStream in = open(fs, modelPath)) {
                HuggingFaceWeights.load(SafeTensors.open(in, modelPath.toString()), layout, params);
            }
            return new Model(config, params, tokenizer);
        } catch (FormatException e) {
            throw new UserError(e.getMessage(), e);
        } catch (IOException e) {
            throw new UserError("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    /**
     * The optimizer's state tensors from optimizer.safetensors, whatever their names: every NAME.P whose P is a
     * parameter of the layout, grouped by NAME, decoded straight into one flat buffer per NAME (no second copy:
     * GPT-2 XL's AdamW moments are 6.2 GB each). Each NAME must hold every parameter, with its shape, checked in
     * the header before any data is read; other tensors are read past.
     */
    static Map<String, float[]> readOptimizerState(SafeTensors.Reader opt, ParameterLayout layout) throws IOException {
        Map<String, ParameterLayout.Tensor> params = new HashMap<>();
        for (ParameterLayout.Tensor t : layout.tensors()) params.put(t.name(), t);
        Map<String, float[]> state = new LinkedHashMap<>();
        for (SafeTensors.Entry e : opt.entries()) {
            int dot = e.name().indexOf('.');
            if (dot > 0 && params.containsKey(e.name().substring(dot + 1))) {
                state.computeIfAbsent(e.name().substring(0, dot), k -> new float[layout.size()]);
            }
        }
        if (state.isEmpty()) {
            throw new FormatException(opt.source(), "holds no optimizer state for this model's parameters (expected"
                    + " tensors such as exp_avg." + layout.tensors().get(0).name() + ")");
        }
        Map<String, SafeTensors.Target> plan = new HashMap<>();
        for (Map.Entry<String, float[]> s : state.entrySet()) {
            for (ParameterLayout.Tensor t : layout.tensors()) {
                String name = s.getKey() + "." + t.name();
                opt.requireF32(name, Arrays.stream(t.shape()).asLongStream().toArray());
                plan.put(name, SafeTensors.Target.into(s.getValue(), t.offset()));
            }
        }
        opt.readInto(e -> plan.getOrDefault(e.name(), SafeTensors.Target.skip()));
        return state;
    }

    /** A buffered stream of path: tensors are decoded from it in 64 KiB chunks. */
    private static InputStream open(FileSystem fs, Path path) throws IOException {
        return new BufferedInputStream(fs.open(path), 1 << 20);
    }

    static String readText(FileSystem fs, Path path) throws IOException {
        try (FSDataInputStream in = fs.open(path)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object json, Path file) {
        if (!(json instanceof Map)) throw new UserError(file + ": expected a JSON object");
        return (Map<String, Object>) json;
    }

    private static Object field(Map<String, Object> m, String key, Path file) {
        if (!m.containsKey(key)) throw new UserError(file + " has no field \"" + key + "\"");
        return m.get(key);
    }

    private static int integer(Map<String, Object> m, String key, Path file) {
        Object v = field(m, key, file);
        if (!(v instanceof Long l) || l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) {
            throw new UserError(file + ": \"" + key + "\" is " + Json.write(v) + ", expected an integer");
        }
        return (int) (long) l;
    }

    private static double number(Object v, String key, Path file) {
        if (!(v instanceof Number n)) throw new UserError(file + ": \"" + key + "\" is " + Json.write(v) + ", expected a number");
        return n.doubleValue();
    }

    /**
     * The file system of p; for local paths the raw one, which writes no {@code .crc} sidecar files
     * beside files that other tools read, and whose flush reaches the file (metrics can be tailed).
     */
    public static FileSystem fileSystem(Configuration conf, Path p) throws IOException {
        FileSystem fs = p.getFileSystem(conf);
        return fs instanceof LocalFileSystem local ? local.getRaw() : fs;
    }
}
