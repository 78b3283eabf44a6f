// `sparkgpt bench`: a short training run through the real Spark step, reported as tokens/s, GFLOP/s,
// MFU and the step's time split; optionally against the same model and batch in PyTorch.
package sparkgpt.driver.bench;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.api.java.JavaSparkContext;
import sparkgpt.driver.config.ClusterConfig;
import sparkgpt.driver.config.DataConfig;
import sparkgpt.driver.config.Key;
import sparkgpt.driver.config.KeyGroup;
import sparkgpt.driver.config.ModelConfig;
import sparkgpt.driver.config.Settings;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.data.TokenShards;
import sparkgpt.driver.step.GradientSum;
import sparkgpt.driver.train.ExecutorMemory;
import sparkgpt.driver.train.Trainer;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.io.FormatException;
import sparkgpt.worker.io.Json;

/**
 * Runs {@link Trainer#train} for warmup + steps steps and reports the medians of the timed steps.
 * The time split (ms, each the median over steps):
 * <ul>
 *   <li>forward, backward: each the max over partitions (possibly of different ones), summed over micro-batches;</li>
 *   <li>aggregation: the job's time outside the tasks' compute: job launch, serializing and moving the partial
 *       gradients to the driver, treeAggregate's sums (see {@link GradientSum});</li>
 *   <li>broadcast: the driver's broadcast call and the slowest partition's fetch of the weights;</li>
 *   <li>update: gradient clipping and AdamW on the driver;</li>
 *   <li>scheduling: the rest of the step: a task's setup around forward and backward (weights into the
 *       executor's model, gradients out of it).</li>
 * </ul>
 */
public final class Bench {
    private Bench() {}

    /** The bench model and batch (n_layer ... micro_batch_size, out_dir), built into the driver jar as in conf/. */
    public static final String MODEL = "conf/bench.properties";

    /** The train keys bench sets unless given: a throwaway run of timed steps on synthetic tokens. */
    public static final Map<String, String> RUN_DEFAULTS = new java.util.LinkedHashMap<>(Map.of(
            "data", "synthetic", "overwrite", "true", "warmup_steps", "0", "eval_interval", "0", "ckpt_interval", "0"));

    /** How to get PyTorch where vs_torch finds none. */
    static final String INSTALL_TORCH = "install Debian's PyTorch with OpenBLAS (sudo apt-get install python3-torch"
            + " libopenblas0-pthread) or give"
            + " --python=/path/to/python3 of an environment with torch (pip install torch)";

    /** bench's own keys, and the train keys it runs with. */
    public record Config(int steps, int warmup, boolean vsTorch, int rounds, String python, String peakSource,
                         TrainConfig train) {
        public static final Key<Integer> STEPS = Key.integer("steps", 5, "timed steps, after warmup; the report is their median")
                .check(Key.atLeast(1), "a positive step count");
        public static final Key<Integer> WARMUP = Key.integer("warmup", 1,
                "untimed first steps (JIT, caches, the executor's model)")
                .check(Key.atLeast(0), "0 or a step count");
        public static final Key<Boolean> VS_TORCH = Key.bool("vs_torch", false,
                "also time tools/reference/bench_torch.py on the same model and batch, alternating");
        public static final Key<Integer> ROUNDS = Key.integer("rounds", 3, "with vs_torch: sparkgpt and PyTorch runs, alternating")
                .check(Key.atLeast(1), "a positive count");
        public static final Key<String> PYTHON = Key.string("python", "",
                "the python3 that runs PyTorch; empty: /usr/bin/python3, then python3 on the PATH");
        public static final Key<String> PEAK_SOURCE = Key.string("peak_source", "",
                "where a given peak_flops comes from, e.g. \"H200 datasheet, fp32\" (repeated in the report)");
        public static final List<KeyGroup> GROUPS = List.of(new KeyGroup("bench",
                List.of(STEPS, WARMUP, VS_TORCH, ROUNDS, PYTHON, PEAK_SOURCE)));

        public static Config from(Settings s) {
            s.loadDefaults(MODEL);
            RUN_DEFAULTS.forEach((k, v) -> {
                if (!s.has(k)) s.put(k, v, "bench default");
            });
            if (s.has("max_steps")) throw s.bad("max_steps", "(given)", "--steps and --warmup, which bench uses instead");
            int steps = s.get(STEPS), warmup = s.get(WARMUP), rounds = s.get(ROUNDS);
            boolean vsTorch = s.get(VS_TORCH);
            String python = s.get(PYTHON), peakSource = s.get(PEAK_SOURCE);
            if (!peakSource.isEmpty() && !s.has("peak_flops")) {
                throw s.bad("peak_source", peakSource, "a note on a given --peak_flops (the measured peak names itself)");
            }
            if (vsTorch) { // a comparison that cannot run stops here, before Spark starts and sparkgpt trains
                python = findTorch(python);
                torchScript();
            }
            s.put("max_steps", String.valueOf(warmup + steps), "bench: warmup + steps");
            return new Config(steps, warmup, vsTorch, rounds, python, peakSource, TrainConfig.from(s));
        }
    }

    /** The medians of one sparkgpt run (the JSON also holds PyTorch's median step when one ran) and its timed steps. */
    public record Report(double tokensPerS, double gflops, double mfu, ClusterConfig.Peak peak, Map<String, Double> ms,
                         Map<String, Object> json, List<Trainer.StepTiming> timed) {}

    /** Runs the benchmark; s is the Settings cfg came from (synthetic data is written, then data points at it). */
    public static Report run(JavaSparkContext sc, Config cfg, Settings s) throws IOException {
        TrainConfig train = cfg.train();
        Path synthetic = null;
        if (train.data().dir().equals("synthetic")) {
            synthetic = Files.createTempDirectory("sparkgpt-bench");
            writeSynthetic(sc.hadoopConfiguration(), synthetic, train, cfg.warmup() + cfg.steps());
            train = TrainConfig.from(s.put("data", synthetic.toString(), "bench: synthetic tokens"));
        }
        if (!s.has(DataConfig.MICRO_BATCH_SIZE.name())) {
            // PyTorch's peer runs each rank's share of the batch as one batch, without accumulation: unless given, so
            // does sparkgpt, where the executors' memory allows (local mode, bench model: ~4% a step over micro-batches of 4)
            ModelConfig m = train.model();
            int micro = ExecutorMemory.largestFitting(sc, new GptConfig(m.nLayer(), m.nHead(), m.nEmbd(), m.blockSize(),
                    m.vocabSize()), train.data().batchSize(), train.data().partitions());
            if (micro > train.data().microBatchSize()) {
                String why = "a partition's share of batch_size as one micro-batch, as PyTorch's peer runs it";
                train = TrainConfig.from(s.put(DataConfig.MICRO_BATCH_SIZE.name(), String.valueOf(micro), "bench: " + why));
                System.out.printf(Locale.ROOT, "bench: micro_batch_size = %d (%s; --micro_batch_size chooses)%n", micro, why);
            }
        }
        try {
            String python = cfg.vsTorch() ? cfg.python() : null; // Config.from found it
            // partitions = N > 1: the peer is PyTorch DDP over gloo (what TorchDistributor runs on CPUs), N processes
            // with an executor's cores each, sharing the same global batch
            int world = Math.max(1, train.data().partitions());
            int rankThreads = world > 1 ? sc.getConf().getInt("spark.executor.cores", 1) : threads();
            Path script = cfg.vsTorch() ? torchScript() : null;
            int rounds = python != null ? cfg.rounds() : 1;
            List<Report> ours = new ArrayList<>();
            List<Double> torchMs = new ArrayList<>();
            String torchImpl = null;
            for (int r = 1; r <= rounds; r++) {
                Report report = measure(Trainer.train(sc, train), cfg, train);
                ours.add(report);
                if (python != null) {
                    String line = runTorch(python, script, train, cfg, world, rankThreads);
                    Map<String, Object> torch = torchResult(line, script);
                    torchMs.add(((Number) torch.get("median_ms")).doubleValue());
                    torchImpl = String.valueOf(torch.getOrDefault("impl", "pytorch"));
                    if (r == 1 && String.valueOf(torch.get("blas")).startsWith("not openblas")) {
                        // Debian's torch does its matmuls through libblas.so.3: without an OpenBLAS package that is
                        // the reference BLAS (measured here: 920 ms a step against 51 ms with OpenBLAS's SkylakeX)
                        System.out.println("note: PyTorch runs on the reference BLAS, not at its best: install"
                                + " libopenblas0-pthread (Debian) for the comparison to mean something");
                    }
                    System.out.printf(Locale.ROOT, "round %d/%d: sparkgpt %.1f ms a step, pytorch %.1f ms (%s)%n", r, rounds,
                            report.ms().get("step"), torchMs.get(torchMs.size() - 1), line);
                }
            }
            // the round whose step time is the median stands for the run
            double[] ourMs = ours.stream().mapToDouble(x -> x.ms().get("step")).toArray();
            ours.sort(Comparator.comparingDouble(x -> x.ms().get("step")));
            Report report = ours.get(ours.size() / 2);
            Map<String, Object> json = new LinkedHashMap<>(report.json());
            System.out.print(table(report, cfg, train));
            if (python != null) {
                Comparison c = Comparison.of(ourMs, torchMs.stream().mapToDouble(Double::doubleValue).toArray(),
                        (long) train.data().batchSize() * train.model().blockSize());
                System.out.print(c.describe(torchImpl, train.data().batchSize(), rankThreads));
                json.putAll(c.json(torchImpl));
                report = new Report(report.tokensPerS(), report.gflops(), report.mfu(), report.peak(), report.ms(), json,
                        report.timed());
            }
            System.out.println(Json.write(json));
            writeJson(sc.hadoopConfiguration(), train.output().outDir(), Json.write(json));
            return report;
        } finally {
            if (synthetic != null) deleteTree(synthetic);
        }
    }

    /**
     * sparkgpt against PyTorch over alternating rounds: each side's median over rounds of its per-round median step,
     * the tokens/s those give, and speedup = PyTorch's step time / sparkgpt's (above 1: sparkgpt is faster).
     */
    record Comparison(double[] oursMs, double[] torchMs, double oursMedianMs, double torchMedianMs, long batchTokens) {
        static Comparison of(double[] oursMs, double[] torchMs, long batchTokens) {
            if (oursMs.length == 0 || oursMs.length != torchMs.length) {
                throw new IllegalArgumentException("rounds: " + oursMs.length + " sparkgpt, " + torchMs.length + " pytorch");
            }
            return new Comparison(oursMs.clone(), torchMs.clone(), median(oursMs), median(torchMs), batchTokens);
        }

        double oursTokensPerS() {
            return batchTokens / (oursMedianMs / 1e3);
        }

        double torchTokensPerS() {
            return batchTokens / (torchMedianMs / 1e3);
        }

        double speedup() {
            return torchMedianMs / oursMedianMs;
        }

        String describe(String torchImpl, int batchSize, int threads) {
            return String.format(Locale.ROOT, "vs pytorch (%s, %d threads, one batch of %d sequences a step, no accumulation),"
                            + " medians of %d alternating rounds:%n  sparkgpt %.1f ms a step, %.0f tokens/s   rounds %s%n"
                            + "  pytorch  %.1f ms a step, %.0f tokens/s   rounds %s%n  sparkgpt speed / pytorch speed = %.2f%n",
                    torchImpl, threads, batchSize, oursMs.length, oursMedianMs, oursTokensPerS(), list(oursMs),
                    torchMedianMs, torchTokensPerS(), list(torchMs), speedup());
        }

        /** The fields bench.json adds. */
        Map<String, Object> json(String torchImpl) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("torch_ms", Json.number(torchMedianMs, 1));
            m.put("torch_tokens_per_s", Json.number(torchTokensPerS(), 1));
            m.put("torch_impl", torchImpl);
            m.put("rounds", oursMs.length);
            m.put("vs_torch", Json.number(speedup(), 3));
            return m;
        }

        private static String list(double[] ms) {
            StringBuilder b = new StringBuilder("[");
            for (double x : ms) b.append(b.length() > 1 ? ", " : "").append(String.format(Locale.ROOT, "%.1f", x));
            return b.append("] ms").toString();
        }
    }

    /** Medians over the timed steps of one training run. */
    static Report measure(Trainer.Result result, Config cfg, TrainConfig train) {
        List<Trainer.StepTiming> timed = result.timings().subList(cfg.warmup(), result.timings().size());
        Map<String, Double> ms = new LinkedHashMap<>();
        ms.put("forward", median(timed, Trainer.StepTiming::forwardMs));
        ms.put("backward", median(timed, Trainer.StepTiming::backwardMs));
        ms.put("aggregation", median(timed, Trainer.StepTiming::aggregateMs));
        ms.put("broadcast", median(timed, Trainer.StepTiming::broadcastMs));
        ms.put("update", median(timed, Trainer.StepTiming::updateMs));
        ms.put("scheduling", median(timed, t -> Math.max(0, t.stepMs() - t.forwardMs() - t.backwardMs() - t.aggregateMs()
                - t.broadcastMs() - t.updateMs())));
        ms.put("step", median(timed, Trainer.StepTiming::stepMs));
        ms.put("compute", median(timed, Trainer.StepTiming::computeMs));
        int T = train.model().blockSize();
        double flopsPerToken = result.flopsPerToken(); // the trained model's shape, which a checkpoint may set
        double tokensPerS = (double) train.data().batchSize() * T / (ms.get("step") / 1e3);
        double flops = flopsPerToken * tokensPerS;
        ClusterConfig.Peak peak = peak(cfg, result.peak());
        double mfu = flops / peak.flops(); // NaN: a GPU not in the peak table
        Map<String, Object> msJson = new LinkedHashMap<>();
        ms.forEach((k, v) -> msJson.put(k, Json.number(v, 1)));
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("tokens_per_s", Json.number(tokensPerS, 1));
        json.put("gflops", Json.number(flops / 1e9, 3));
        json.put("mfu", Json.number(mfu, 6));
        json.put("peak_flops", Double.isNaN(peak.flops()) ? null : Double.parseDouble(String.format(Locale.ROOT, "%.4e", peak.flops())));
        json.put("peak_source", peak.source());
        json.put("steps", cfg.steps());
        json.put("batch_tokens", (long) train.data().batchSize() * T);
        json.put("ms", msJson);
        // Spark's fixed cost of a step: everything but forward, backward and the update (broadcast, aggregation,
        // scheduling), and its share of the step; medians of the per-step values
        double fixedMs = median(timed, Bench::sparkFixedMs);
        double share = median(timed, t -> sparkFixedMs(t) / t.stepMs());
        json.put("spark_fixed_ms", Json.number(fixedMs, 1));
        json.put("spark_share", Json.number(share, 4));
        // the cpu threads' CPU time over their wall time in compute, the lowest partition's: below 1 when other
        // processes (another executor, the driver, Spark's daemons) took their cores, or a pool thread sat idle
        double onCpu = median(timed, Trainer.StepTiming::onCpu);
        if (!Double.isNaN(onCpu)) json.put("compute_on_cpu", Json.number(onCpu, 4));
        return new Report(tokensPerS, flops / 1e9, mfu, peak, ms, json, List.copyOf(timed));
    }

    /** One step's time outside forward, backward and the update: broadcast + aggregation + scheduling. */
    static double sparkFixedMs(Trainer.StepTiming t) {
        return Math.max(0, t.stepMs() - t.forwardMs() - t.backwardMs() - t.updateMs());
    }

    static String table(Report r, Config cfg, TrainConfig train) {
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                "bench: median of %d steps after %d warmup; %d sequences x %d tokens a step, micro-batches of %d%n",
                cfg.steps(), cfg.warmup(), train.data().batchSize(), train.model().blockSize(), train.data().microBatchSize()));
        Map<String, String> notes = Map.of(
                "forward", "max over partitions, all micro-batches",
                "backward", "max over partitions, all micro-batches",
                "aggregation", "job launch, gradients to the driver, tree sums",
                "broadcast", "driver broadcast + slowest fetch",
                "update", "clip + AdamW on the driver",
                "scheduling", "the rest: task setup around forward/backward",
                "step", "wall time of one optimizer step",
                "compute", "forward + backward + setup, slowest partition");
        r.ms().forEach((k, v) -> s.append(String.format(Locale.ROOT, "  %-12s %9.1f ms   %s%n", k, v, notes.get(k))));
        s.append(String.format(Locale.ROOT, "Spark's fixed cost %.1f ms a step (broadcast + aggregation + scheduling), %.1f%% of the step%n",
                ((Number) r.json().get("spark_fixed_ms")).doubleValue(), 100 * ((Number) r.json().get("spark_share")).doubleValue()));
        if (r.json().get("compute_on_cpu") instanceof Number onCpu) {
            s.append(String.format(Locale.ROOT, "compute's threads were on a core %.0f%% of its time (lowest partition; the rest they waited: for a core"
                    + " another process held, or idle in serial parts and uneven splits)%n",
                    100 * onCpu.doubleValue()));
        }
        s.append(String.format(Locale.ROOT, "%.0f tokens/s, %.2f GFLOP/s, MFU %s against %s%n", r.tokensPerS(), r.gflops(),
                Double.isNaN(r.mfu()) ? "unknown" : String.format(Locale.ROOT, "%.2f%%", 100 * r.mfu()), r.peak().source()));
        return s.toString();
    }

    /** The train run's peak, with bench's peak_source note on a given figure. */
    static ClusterConfig.Peak peak(Config cfg, ClusterConfig.Peak peak) {
        if (cfg.peakSource().isEmpty()) return peak;
        return new ClusterConfig.Peak(peak.flops(), peak.source().replace("(given)", "(given: " + cfg.peakSource() + ")"));
    }

    /** Random tokens in [0, vocab_size), enough windows for every step's batch: one train shard, no val. */
    static void writeSynthetic(Configuration conf, Path dir, TrainConfig train, int steps) throws IOException {
        if (train.model().vocabSize() <= 0 || train.model().vocabSize() > 65536) {
            throw new UserError("data = synthetic needs vocab_size in 1..65536 (uint16 shards), got " + train.model().vocabSize());
        }
        long n = ((long) train.data().batchSize() * steps + 1) * train.model().blockSize() + 1;
        if (n > Integer.MAX_VALUE) throw new UserError("data = synthetic: " + n + " tokens is too many; use fewer steps");
        Random random = new Random(train.data().seed());
        char[] tokens = new char[(int) n];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (char) random.nextInt(train.model().vocabSize());
        TokenShards.write(FileSystem.getLocal(conf).getRaw(), new org.apache.hadoop.fs.Path(dir.toUri().toString(), "train_000000.bin"),
                tokens, 0, tokens.length);
    }

    /**
     * The first python that can import torch: the given one, else /usr/bin/python3, else python3 on the PATH.
     * None: a UserError saying what each candidate lacked and how to install PyTorch.
     */
    static String findTorch(String given) {
        List<String> candidates = given.isEmpty() ? List.of("/usr/bin/python3", "python3") : List.of(given);
        List<String> tried = new ArrayList<>();
        for (String p : candidates) {
            try {
                Process proc = new ProcessBuilder(p, "-c", "import torch").redirectErrorStream(true).start();
                String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                if (proc.waitFor() == 0) return p;
                String last = out.isEmpty() ? "exit status " + proc.exitValue() : out.substring(out.lastIndexOf('\n') + 1);
                tried.add(p + ": cannot import torch (" + last + ")");
            } catch (IOException e) {
                tried.add(p + ": not found");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new UserError("vs_torch: interrupted while looking for python3 with torch");
            }
        }
        throw new UserError("vs_torch = true needs python3 with PyTorch; " + String.join("; ", tried) + ". To compare, "
                + INSTALL_TORCH + "; or leave vs_torch out");
    }

    /** tools/reference/bench_torch.py of this installation (sparkgpt.home, which deploy/sparkgpt sets). */
    static Path torchScript() {
        Path script = Path.of(System.getProperty("sparkgpt.home", "."), "tools", "reference", "bench_torch.py");
        if (!Files.isRegularFile(script)) {
            throw new UserError("vs_torch = true: " + script.toAbsolutePath() + " is missing (run bench from the"
                    + " sparkgpt directory, or through deploy/sparkgpt)");
        }
        return script;
    }

    /**
     * One run of bench_torch.py on the same model and batch_size sequences a step (over world DDP processes when
     * world > 1); its JSON line. Threads per process: as many as sparkgpt's pool (an executor's cores with world > 1),
     * also for OpenMP and OpenBLAS, which would otherwise pick their own counts.
     * OMP_WAIT_POLICY=PASSIVE: libgomp's threads otherwise spin for up to milliseconds after each of a step's
     * thousands of parallel operations, and on cores shared with other programs the spinning thread keeps its
     * partner off the core (at a load average of 8-10 here: a median 10.0 s against 3.8 s a step of 1024 tokens);
     * sparkgpt's pool spins ~20-100 us, then parks. Any of these set in bench's environment is kept.
     */
    static String runTorch(String python, Path script, TrainConfig train, Config cfg, int world, int threads)
            throws IOException {
        List<String> cmd = new ArrayList<>(List.of(python, script.toString()));
        int[] values = {train.model().nLayer(), train.model().nHead(), train.model().nEmbd(), train.model().blockSize(), train.model().vocabSize(),
                train.data().batchSize(), cfg.steps(), cfg.warmup(), threads};
        String[] keys = {"n_layer", "n_head", "n_embd", "block_size", "vocab_size", "batch_size", "steps", "warmup", "threads"};
        for (int i = 0; i < keys.length; i++) cmd.addAll(List.of("--" + keys[i], String.valueOf(values[i])));
        if (world > 1) cmd.addAll(List.of("--world_size", String.valueOf(world)));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        for (String k : List.of("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")) {
            pb.environment().putIfAbsent(k, String.valueOf(threads));
        }
        pb.environment().putIfAbsent("OMP_WAIT_POLICY", "PASSIVE");
        Process proc = pb.start();
        String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        try {
            if (proc.waitFor() != 0) throw new UserError(script + " failed (" + String.join(" ", cmd) + "):\n" + out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UserError("interrupted while running " + script);
        }
        // the JSON line: the last one that is an object (notes on stderr may come before or after it)
        String[] lines = out.split("\n");
        for (int i = lines.length - 1; i >= 0; i--) {
            if (lines[i].startsWith("{")) return lines[i].trim();
        }
        throw new UserError(script + " printed no JSON line (" + String.join(" ", cmd) + "):\n" + out);
    }

    static int threads() {
        return Runtime.getRuntime().availableProcessors();
    }

    /** bench_torch.py's JSON line, which must hold its median step time. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> torchResult(String line, Path script) {
        Object json;
        try {
            json = Json.parse(line, script.toString());
        } catch (FormatException e) {
            throw new UserError(e.getMessage());
        }
        if (!(json instanceof Map<?, ?> m) || !(m.get("median_ms") instanceof Number)) {
            throw new UserError("no \"median_ms\" in " + script.getFileName() + "'s output: " + line);
        }
        return (Map<String, Object>) json;
    }

    static <T> double median(List<T> xs, ToDoubleFunction<T> f) {
        return median(xs.stream().mapToDouble(f).toArray());
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** out_dir/bench.json: one JSON line, through the Hadoop FS like the rest of out_dir. */
    static void writeJson(Configuration conf, String outDir, String json) throws IOException {
        org.apache.hadoop.fs.Path path = new org.apache.hadoop.fs.Path(outDir, "bench.json");
        FileSystem fs = path.getFileSystem(conf);
        try (OutputStream out = fs.create(path, true)) {
            out.write((json + "\n").getBytes(StandardCharsets.UTF_8));
        }
        System.out.println("wrote " + path);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
