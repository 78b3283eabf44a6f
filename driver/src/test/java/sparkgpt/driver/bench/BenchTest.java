// `sparkgpt bench` on Spark local[2] with a tiny model: the report's fields exist and add up; vs_torch
// alternates rounds with a stand-in python and compares medians; a python without torch stops bench at once.
package sparkgpt.driver.bench;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.config.Settings;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.train.SparkSetup;
import sparkgpt.driver.train.Trainer;
import sparkgpt.worker.io.Json;

class BenchTest {
    static JavaSparkContext sc;
    @TempDir
    static Path tmp;

    @BeforeAll
    static void start() {
        sc = SparkSetup.context("local[2]", "BenchTest", Map.of());
    }

    @AfterAll
    static void stop() {
        sc.close();
    }

    /** Runs bench with a tiny model on synthetic tokens; returns the report and what it printed. */
    static Object[] bench(String... overrides) throws Exception {
        List<String> args = new ArrayList<>(List.of("--out_dir=" + tmp.resolve("out"), "--n_layer=2", "--n_head=4",
                "--n_embd=128", "--block_size=64", "--vocab_size=256", "--batch_size=8", "--micro_batch_size=2",
                "--partitions=1", "--steps=2", "--warmup=1"));
        args.addAll(List.of(overrides));
        return run(args);
    }

    static Object[] run(List<String> args) throws Exception {
        Settings s = Settings.parse(args);
        Bench.Config cfg = Bench.Config.from(s);
        s.finish("bench");
        PrintStream stdout = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            Bench.Report r = Bench.run(sc, cfg, s);
            return new Object[] {r, buf.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(stdout);
        }
    }

    @Test
    void reportsTheSplitOfAStep() throws Exception {
        Object[] out = bench();
        Bench.Report r = (Bench.Report) out[0];
        String printed = (String) out[1];
        assertTrue(r.tokensPerS() > 0 && r.gflops() > 0 && r.mfu() > 0, r.json().toString());
        for (String k : List.of("forward", "backward", "aggregation", "broadcast", "update", "scheduling", "step", "compute")) {
            assertTrue(r.ms().containsKey(k), k);
            assertTrue(r.ms().get(k) >= 0, k + " " + r.ms().get(k));
            assertTrue(printed.contains("  " + k + " "), "table row " + k + " in\n" + printed);
            assertTrue(((Map<?, ?>) r.json().get("ms")).get(k) instanceof Double, r.json().toString());
        }
        assertTrue(r.ms().get("step") > 0 && r.ms().get("compute") > 0, r.json().toString());
        double share = (Double) r.json().get("spark_share"), fixed = (Double) r.json().get("spark_fixed_ms");
        assertTrue(share >= 0 && share < 1 && fixed >= 0 && fixed < r.ms().get("step") + 1, r.json().toString());
        assertTrue(printed.contains("Spark's fixed cost "), printed);
        // per step (medians of different columns may come from different steps); with one partition the
        // forward and backward maxima come from the same task, so they fit inside its compute
        assertEquals(2, r.timed().size());
        for (Trainer.StepTiming t : r.timed()) {
            assertTrue(t.forwardMs() > 0 && t.backwardMs() > 0, t.toString());
            assertTrue(t.forwardMs() + t.backwardMs() <= t.computeMs(), t.toString());
            assertTrue(t.computeMs() <= t.stepMs(), t.toString());
            // the cpu backend's threads' CPU time over their wall time in compute
            assertTrue(t.onCpu() > 0 && t.onCpu() < 1.1, t.toString());
        }
        double onCpu = (Double) r.json().get("compute_on_cpu");
        assertTrue(onCpu > 0 && onCpu < 1.1, r.json().toString());
        assertTrue(printed.contains(String.format(java.util.Locale.ROOT, "compute's threads were on a core %.0f%% of its time", 100 * onCpu)),
                printed);
        for (String k : List.of("tokens_per_s", "gflops", "mfu", "peak_flops", "peak_source")) {
            assertTrue(r.json().containsKey(k), r.json().toString());
        }
        assertTrue(String.valueOf(r.json().get("peak_source")).startsWith("the measured FMA peak of "),
                "the peak's source is stated: " + r.json());
        assertTrue(printed.contains("% against the measured FMA peak of "), printed);
        assertTrue(printed.contains("mfu: against the measured FMA peak of "), "the trainer names it too:\n" + printed);
        assertTrue(printed.contains(Json.write(r.json())), "the JSON line is printed");
        assertEquals(Json.write(r.json()), Files.readString(tmp.resolve("out/bench.json")).trim());
        // 1 warmup + 2 timed steps ran through the trainer
        assertEquals(3, Files.readAllLines(tmp.resolve("out/metrics.jsonl")).stream().filter(l -> l.contains("\"loss\"")).count());
    }

    @Test
    void aPythonWithoutTorchStopsBeforeTraining(@TempDir Path dir) throws Exception {
        UserError e = assertThrows(UserError.class, () -> bench("--vs_torch=true", "--python=/bin/false",
                "--out_dir=" + dir.resolve("out")));
        assertTrue(e.getMessage().startsWith("vs_torch = true needs python3 with PyTorch; /bin/false: cannot import torch"),
                e.getMessage());
        assertTrue(e.getMessage().contains("apt-get install python3-torch"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("out")), "nothing trained");
        Path python = dir.resolve("python3");
        Files.writeString(python, "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n");
        assertTrue(python.toFile().setExecutable(true));
        e = assertThrows(UserError.class, () -> Bench.findTorch(python.toString()));
        assertTrue(e.getMessage().contains(python + ": cannot import torch (ModuleNotFoundError: No module named 'torch')"),
                e.getMessage());
        e = assertThrows(UserError.class, () -> Bench.findTorch(dir.resolve("nopython").toString()));
        assertTrue(e.getMessage().contains("nopython: not found"), e.getMessage());
    }

    @Test
    void withoutAMicroBatchSizeAPartitionRunsItsShareAsOneMicroBatch() throws Exception {
        Object[] out = run(List.of("--out_dir=" + tmp.resolve("out"), "--n_layer=2", "--n_head=4", "--n_embd=128",
                "--block_size=64", "--vocab_size=256", "--batch_size=8", "--partitions=1", "--steps=1", "--warmup=0"));
        String printed = (String) out[1];
        assertTrue(printed.contains("micro-batches of 8"), printed);
        assertTrue(printed.contains("bench: micro_batch_size = 8 (a partition's share of batch_size as one micro-batch"),
                "the bench says what it chose:\n" + printed);
        assertTrue(((String) bench("--steps=1", "--warmup=0")[1]).contains("micro-batches of 2"), "a given micro_batch_size stays");
    }

    /** A stand-in python: imports torch, and as bench_torch.py records its arguments and threads and reports 1 s a step. */
    @Test
    void vsTorchAlternatesRoundsAndComparesMedians(@TempDir Path dir) throws Exception {
        Path python = dir.resolve("python3");
        Path calls = dir.resolve("calls");
        Files.writeString(python, "#!/bin/sh\n[ \"$1\" = -c ] && exit 0\n"
                + "echo \"$* OMP=$OMP_NUM_THREADS $OMP_WAIT_POLICY\" >> " + calls + "\n"
                + "echo 'torch says hello'\n"
                + "echo '{\"impl\": \"stand-in\", \"median_ms\": 1000.0, \"tokens_per_s\": 512}'\n"
                + "echo 'a note after the JSON line' >&2\n");
        assertTrue(python.toFile().setExecutable(true));
        String home = System.getProperty("sparkgpt.home");
        System.setProperty("sparkgpt.home", Path.of("..").toAbsolutePath().normalize().toString());
        Object[] out;
        try {
            out = bench("--vs_torch=true", "--python=" + python, "--rounds=2", "--steps=1", "--warmup=0",
                    "--peak_flops=1e12", "--peak_source=a test figure");
        } finally {
            if (home == null) System.clearProperty("sparkgpt.home"); else System.setProperty("sparkgpt.home", home);
        }
        Bench.Report r = (Bench.Report) out[0];
        String printed = (String) out[1];
        List<String> lines = Files.readAllLines(calls);
        assertEquals(2, lines.size(), "one bench_torch.py run a round: " + lines);
        for (String l : lines) {
            assertTrue(l.contains("tools/reference/bench_torch.py --n_layer 2 --n_head 4 --n_embd 128 --block_size 64"
                    + " --vocab_size 256 --batch_size 8 --steps 1 --warmup 0 --threads " + Bench.threads()), l);
            assertTrue(l.endsWith("OMP=" + Bench.threads() + " " + System.getenv().getOrDefault("OMP_WAIT_POLICY", "PASSIVE")), l);
        }
        assertTrue(printed.contains("round 1/2: sparkgpt ") && printed.contains("round 2/2: sparkgpt "), printed);
        assertTrue(printed.contains("pytorch  1000.0 ms a step, 512 tokens/s   rounds [1000.0, 1000.0] ms"), printed);
        assertEquals(1000.0, r.json().get("torch_ms"), r.json().toString());
        assertEquals(512.0, r.json().get("torch_tokens_per_s"), r.json().toString());
        assertEquals("stand-in", r.json().get("torch_impl"), r.json().toString());
        assertEquals(2, r.json().get("rounds"), r.json().toString());
        assertEquals("peak_flops = 1.000e+12 (given: a test figure)", r.json().get("peak_source"), r.json().toString());
        // the ratio in the JSON is PyTorch's median step over the median of sparkgpt's rounds (here their mean)
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("round \\d/2: sparkgpt ([0-9.]+) ms").matcher(printed);
        double sum = 0;
        for (int i = 0; i < 2; i++) {
            assertTrue(m.find(), printed);
            sum += Double.parseDouble(m.group(1));
        }
        double ratio = (Double) r.json().get("vs_torch");
        assertEquals(1000.0 / (sum / 2), ratio, 0.002 * ratio + 1e-3, r.json() + "\n" + printed);
    }

    @Test
    void comparisonTakesMediansOverRounds() {
        Bench.Comparison c = Bench.Comparison.of(new double[] {100, 300, 200}, new double[] {400, 1000, 600}, 4096);
        assertEquals(200, c.oursMedianMs());
        assertEquals(600, c.torchMedianMs());
        assertEquals(3.0, c.speedup(), 1e-12);
        assertEquals(20480, c.oursTokensPerS(), 1e-9);
        assertEquals(4096 / 0.6, c.torchTokensPerS(), 1e-9);
        assertEquals(2.5, Bench.Comparison.of(new double[] {1, 4}, new double[] {5, 5}, 1).oursMedianMs());
        assertTrue(c.describe("t", 16, 2).contains("sparkgpt speed / pytorch speed = 3.00"), c.describe("t", 16, 2));
        assertThrows(IllegalArgumentException.class, () -> Bench.Comparison.of(new double[] {1}, new double[0], 1));
    }

    @Test
    void peakSourceNeedsAGivenPeak() {
        Settings s = Settings.parse(List.of("--peak_source=datasheet"));
        UserError e = assertThrows(UserError.class, () -> Bench.Config.from(s));
        assertTrue(e.getMessage().startsWith("peak_source = datasheet") && e.getMessage().contains("peak_flops"), e.getMessage());
    }

    @Test
    void maxStepsIsRejected() {
        Settings s = Settings.parse(List.of("--max_steps=3"));
        UserError e = assertThrows(UserError.class, () -> Bench.Config.from(s));
        assertTrue(e.getMessage().contains("max_steps") && e.getMessage().contains("--steps"), e.getMessage());
    }
}
