// `sparkgpt bench` on Spark local[2] with a tiny model: the report's fields exist and add up, and a
// python without torch is reported in one line while the benchmark continues.
package sparkgpt.driver;

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
        List<String> args = new ArrayList<>(List.of("--out_dir=" + tmp.resolve("out"), "--n_layer=2", "--n_head=2",
                "--n_embd=32", "--block_size=16", "--vocab_size=64", "--batch_size=8", "--micro_batch_size=2",
                "--partitions=1", "--steps=2", "--warmup=1"));
        args.addAll(List.of(overrides));
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
        assertTrue(r.tokensPerS() > 0 && r.gflops() > 0 && r.mfu() > 0, r.json());
        for (String k : List.of("forward", "backward", "aggregation", "broadcast", "update", "scheduling", "step", "compute")) {
            assertTrue(r.ms().containsKey(k), k);
            assertTrue(r.ms().get(k) >= 0, k + " " + r.ms().get(k));
            assertTrue(printed.contains("  " + k + " "), "table row " + k + " in\n" + printed);
            assertTrue(r.json().contains("\"" + k + "\": "), r.json());
        }
        assertTrue(r.ms().get("step") > 0 && r.ms().get("compute") > 0, r.json());
        // per step (medians of different columns may come from different steps); with one partition the
        // forward and backward maxima come from the same task, so they fit inside its compute
        assertEquals(2, r.timed().size());
        for (Trainer.StepTiming t : r.timed()) {
            assertTrue(t.forwardMs() > 0 && t.backwardMs() > 0, t.toString());
            assertTrue(t.forwardMs() + t.backwardMs() <= t.computeMs(), t.toString());
            assertTrue(t.computeMs() <= t.stepMs(), t.toString());
        }
        for (String k : List.of("tokens_per_s", "gflops", "mfu", "peak_flops", "peak_source")) {
            assertTrue(r.json().contains("\"" + k + "\": "), r.json());
        }
        assertTrue(r.json().contains(Bench.CPU_PEAK_SOURCE), "the peak's source is stated: " + r.json());
        assertTrue(printed.contains(r.json()), "the JSON line is printed");
        assertEquals(r.json(), Files.readString(tmp.resolve("out/bench.json")).trim());
        // 1 warmup + 2 timed steps ran through the trainer
        assertEquals(3, Files.readAllLines(tmp.resolve("out/metrics.jsonl")).stream().filter(l -> l.contains("\"loss\"")).count());
    }

    @Test
    void aPythonWithoutTorchIsReportedAndSkipped() throws Exception {
        Object[] out = bench("--vs_torch=true", "--python=/bin/false", "--steps=1", "--warmup=0", "--peak_flops=1e12",
                "--peak_source=a test figure");
        String printed = (String) out[1];
        assertTrue(printed.contains("no python3 that can `import torch` (tried /bin/false)"), printed);
        Bench.Report r = (Bench.Report) out[0];
        assertTrue(r.json().contains("\"peak_source\": \"a test figure\"") && !r.json().contains("torch_ms"), r.json());
    }

    @Test
    void maxStepsIsRejected() {
        Settings s = Settings.parse(List.of("--max_steps=3"));
        UserError e = assertThrows(UserError.class, () -> Bench.Config.from(s));
        assertTrue(e.getMessage().contains("max_steps") && e.getMessage().contains("--steps"), e.getMessage());
    }
}
