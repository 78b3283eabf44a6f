// Exact resume on Spark local[2]: 2k steps in one run equal k steps plus a resumed run, bit for bit,
// with shuffle, warmup, clipping and eval in play; also after a crash, on another partition count,
// and a rerun of a finished run is a no-op.
package sparkgpt.driver.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.testing.TestData;

public class ResumeTest {
    static JavaSparkContext sc;
    @TempDir
    static Path tmp;
    static String data;

    @BeforeAll
    static void start() throws Exception {
        sc = SparkSetup.context("local[2]", "ResumeTest", Map.of());
        data = TestData.bytes(Files.createDirectories(tmp.resolve("data")), 20_000, 2_000);
    }

    @AfterAll
    static void stop() {
        sc.close();
    }

    /** 2 layers, 32 channels, context 16, bytes; 3 partitions, shuffled, warmup 2, clip 0.5, eval every 2 steps. */
    static TrainConfig config(Path out, String... overrides) {
        List<String> args = new ArrayList<>(List.of("--data=" + data, "--out_dir=" + out,
                "--n_layer=2", "--n_head=2", "--n_embd=32", "--block_size=16", "--batch_size=6",
                "--micro_batch_size=2", "--partitions=3", "--shuffle=true", "--learning_rate=3e-3", "--min_lr=3e-4",
                "--warmup_steps=2", "--grad_clip=0.5", "--eval_interval=2", "--eval_batches=2", "--seed=7",
                "--ckpt_interval=2", "--keep_checkpoints=3"));
        args.addAll(List.of(overrides));
        return TestData.trainConfig(args);
    }

    @Test
    void resumedRunsEqualOneRunBitForBit() throws Exception {
        Path full = tmp.resolve("full"), split = tmp.resolve("split");
        Trainer.Result one = Trainer.train(sc, config(full, "--max_steps=8"));
        // what makes the test meaningful: clipping scaled some steps, warmup and decay changed lr
        List<String> fullMetrics = Files.readAllLines(full.resolve("metrics.jsonl"));
        assertTrue(fullMetrics.stream().anyMatch(l -> l.contains("\"grad_norm\"") && number(l, "grad_norm") > 0.5),
                String.join("\n", fullMetrics));
        // checkpoints every 2 steps, the newest 3 kept, latest names the last
        assertEquals(List.of("latest", "loss.png", "metrics.jsonl", "run.json", "step_000004", "step_000006", "step_000008"), list(full));
        assertEquals("step_000008", Files.readString(full.resolve("latest")).trim());

        // k steps (the schedule's horizon set to 2k), then a resumed run to 2k
        Trainer.Result first = Trainer.train(sc, config(split, "--max_steps=4", "--lr_decay_steps=8"));
        Trainer.Result second = Trainer.train(sc, config(split, "--max_steps=8", "--init_from=resume"));
        assertEquals(one.losses().subList(0, 4), first.losses());
        assertEquals(one.losses().subList(4, 8), second.losses());
        assertArrayEquals(one.params(), second.params());
        assertEquals(withoutTimes(fullMetrics), withoutTimes(Files.readAllLines(split.resolve("metrics.jsonl"))));
        assertArrayEquals(Files.readAllBytes(full.resolve("step_000008/model.safetensors")),
                Files.readAllBytes(split.resolve("step_000008/model.safetensors")));
        assertArrayEquals(Files.readAllBytes(full.resolve("step_000008/optimizer.safetensors")),
                Files.readAllBytes(split.resolve("step_000008/optimizer.safetensors")));

        // a crash after step 5: the checkpoint of step 4, metrics up to step 5, and `latest` lost
        // between its delete and rename; the resumed run drops the metrics after step 4 and redoes them
        Path crashed = tmp.resolve("crashed");
        copy(full.resolve("step_000004"), crashed.resolve("step_000004"));
        List<String> upTo5 = fullMetrics.stream().filter(l -> number(l, "step") <= 5).collect(Collectors.toList());
        Files.write(crashed.resolve("metrics.jsonl"), upTo5);
        Files.createDirectories(crashed.resolve(".step_000006.tmp")); // a checkpoint that was being written
        Trainer.Result again = Trainer.train(sc, config(crashed, "--max_steps=8", "--init_from=resume"));
        assertEquals(one.losses().subList(4, 8), again.losses());
        assertArrayEquals(one.params(), again.params());
        assertEquals(withoutTimes(fullMetrics), withoutTimes(Files.readAllLines(crashed.resolve("metrics.jsonl"))));

        // `sparkgpt eval` on the final checkpoint, with the training run's eval settings, gives its last val loss
        double val = Evaluate.run(sc, new Evaluate.Config(full.resolve("step_000008").toString(), data, 16, 6, 2, 2, 3,
                "auto", "local[2]"));
        assertEquals(one.valLosses().get(one.valLosses().size() - 1)[1], val);

        // a checkpoint is also a starting point (a Hugging Face directory): a shorter context is fine, a longer one not
        Trainer.Result fromDir = Trainer.train(sc, config(tmp.resolve("tuned"), "--max_steps=1", "--block_size=8",
                "--init_from=" + full.resolve("step_000008"), "--n_layer=6"));
        assertTrue(fromDir.losses().get(0) < one.losses().get(0) - 0.2, fromDir.losses() + " vs " + one.losses());
        assertEquals(one.params().length, fromDir.params().length); // the shape came from the checkpoint, not n_layer
        UserError e = assertThrows(UserError.class, () -> Trainer.train(sc, config(tmp.resolve("long"), "--max_steps=1",
                "--block_size=32", "--init_from=" + full.resolve("step_000008"))));
        assertEquals("block_size = 32 is larger than n_positions = 16 of " + full.resolve("step_000008"), e.getMessage());

        // rerunning the finished run: nothing to do, nothing written
        long modified = Files.getLastModifiedTime(full.resolve("metrics.jsonl")).toMillis();
        Trainer.Result rerun = Trainer.train(sc, config(full, "--max_steps=8", "--init_from=resume"));
        assertEquals(List.of(), rerun.losses());
        assertArrayEquals(one.params(), rerun.params());
        assertEquals(modified, Files.getLastModifiedTime(full.resolve("metrics.jsonl")).toMillis());
        assertEquals(List.of("latest", "loss.png", "metrics.jsonl", "run.json", "step_000004", "step_000006", "step_000008"), list(full));

        // another partition count: a different data order from step 4, but training goes on sensibly
        Path other = tmp.resolve("other");
        copy(full.resolve("step_000004"), other.resolve("step_000004"));
        Trainer.Result moved = Trainer.train(sc, config(other, "--max_steps=8", "--init_from=resume", "--partitions=1"));
        assertEquals(4, moved.losses().size());
        for (int i = 0; i < 4; i++) {
            assertEquals(one.losses().get(4 + i), moved.losses().get(i), 0.3, "step " + (5 + i));
        }
        assertNotEquals(one.losses().subList(4, 8), moved.losses());
    }

    @Test
    void resumeWithoutACheckpointStartsFromScratch() {
        Path out = tmp.resolve("fresh");
        Trainer.Result resumed = Trainer.train(sc, config(out, "--max_steps=2", "--init_from=resume"));
        Trainer.Result scratch = Trainer.train(sc, config(tmp.resolve("scratch"), "--max_steps=2"));
        assertEquals(scratch.losses(), resumed.losses());
        assertTrue(Files.isDirectory(out.resolve("step_000002")));
    }

    @Test
    void aRunResumedInAStreakOfNonFiniteStepsStopsAtTheSameStep() throws Exception {
        // a learning rate no model survives (BadInputTest's): step 1 is finite, its update makes the logits
        // overflow, and every later step is non-finite and skipped; max_bad_steps = 3 stops the run at step 4
        List<String> diverge = List.of("--learning_rate=1e30", "--min_lr=0", "--grad_clip=0", "--warmup_steps=0",
                "--max_bad_steps=3", "--lr_decay_steps=20");
        Path full = tmp.resolve("diverged"), split = tmp.resolve("diverged-split");
        UserError one = assertThrows(UserError.class, () -> Trainer.train(sc, config(full, with(diverge, "--max_steps=20"))));
        assertTrue(one.getMessage().startsWith("3 step(s) in a row had a non-finite loss or gradient (last at step 4: "),
                one.getMessage());
        assertTrue(one.getMessage().contains("max_bad_steps = 3"), one.getMessage());
        List<String> fullMetrics = Files.readAllLines(full.resolve("metrics.jsonl"));
        assertFalse(fullMetrics.stream().anyMatch(l -> l.contains("\"step\":1,") && l.contains("skipped")),
                String.join("\n", fullMetrics));
        // the checkpoint of step 2 (ckpt_interval = 2) fell inside the streak: finite weights, one skipped step
        assertEquals("step_000002", Files.readString(full.resolve("latest")).trim());
        assertTrue(Files.readString(full.resolve("step_000002/trainer_state.json")).contains("\"bad_steps_in_a_row\": 1,"));

        // the same run stopped after step 2, then resumed: it counts step 2 and stops at step 4, with the same message
        Trainer.train(sc, config(split, with(diverge, "--max_steps=2")));
        Checkpoint.Loaded at2 = Checkpoint.load(sc.hadoopConfiguration(), split.resolve("step_000002").toString());
        assertEquals(1, at2.state().badStepsInARow());
        assertEquals(1, at2.state().optimizerStep()); // step 2's update was skipped
        UserError resumed = assertThrows(UserError.class,
                () -> Trainer.train(sc, config(split, with(diverge, "--max_steps=20", "--init_from=resume"))));
        assertEquals(one.getMessage(), resumed.getMessage());
        assertEquals(withoutTimes(fullMetrics), withoutTimes(Files.readAllLines(split.resolve("metrics.jsonl"))));
    }

    static String[] with(List<String> base, String... more) {
        List<String> all = new ArrayList<>(base);
        all.addAll(List.of(more));
        return all.toArray(new String[0]);
    }

    static List<String> withoutTimes(List<String> lines) {
        // the step lines up to their timing fields ("ms", tokens_per_s, ...), the eval lines whole
        return lines.stream().map(l -> l.contains(",\"ms\"") ? l.substring(0, l.indexOf(",\"ms\"")) : l)
                .collect(Collectors.toList());
    }

    public static double number(String line, String key) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"" + key + "\": *([-0-9.eE+]+)").matcher(line);
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }

    public static List<String> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }

    public static void copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path f : (Iterable<Path>) s::iterator) Files.copy(f, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
