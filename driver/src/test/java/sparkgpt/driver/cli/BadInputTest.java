// Bad input through the real command line: each case ends with exit code 2, one last line on stderr
// naming the file, key or value and what was expected, no stack trace without --debug, no output
// for a run that could not start, and the previous latest checkpoint intact.
package sparkgpt.driver.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.data.TokenShards;
import sparkgpt.driver.testing.FullDiskFileSystem;
import sparkgpt.driver.testing.TestData;
import sparkgpt.driver.train.ResumeTest;

@Timeout(value = 5, unit = TimeUnit.MINUTES)
public class BadInputTest {
    @TempDir
    static Path tmp;
    static String data;
    /** A finished 2-step run: out_dir with step_000002 and latest. */
    static Path good;

    @BeforeAll
    static void start() throws Exception {
        data = TestData.bytes(Files.createDirectories(tmp.resolve("data")), 4_000, 400);
        good = tmp.resolve("good");
        Outcome ok = run(train(good));
        assertEquals(0, ok.code, ok.err);
        assertEquals("step_000002", Files.readString(good.resolve("latest")).trim());
    }

    /** What one command printed and returned. */
    public record Outcome(int code, String out, String err) {
        public String lastLine() {
            String[] lines = err.strip().split("\n");
            return lines[lines.length - 1];
        }
    }

    /** Main's exit code with stdout and stderr captured (stderr as Main writes it). */
    public static Outcome run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        PrintStream stdout = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.exitCode(args, new PrintStream(err, true, StandardCharsets.UTF_8));
        } finally {
            System.setOut(stdout);
        }
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** `sparkgpt train` of a tiny model for 2 steps into out, with overrides. */
    static String[] train(Path out, String... overrides) {
        List<String> args = new ArrayList<>(List.of("train", "--data=" + data, "--out_dir=" + out,
                "--n_layer=1", "--n_head=2", "--n_embd=16", "--block_size=16", "--batch_size=4",
                "--micro_batch_size=2", "--partitions=2", "--max_steps=2", "--eval_interval=0", "--eval_batches=1",
                "--ckpt_interval=2", "--device=cpu", "--master=local[2]"));
        args.addAll(List.of(overrides));
        return args.toArray(new String[0]);
    }

    /** The command failed as a user error: code 2, the last line says all of expected, no stack trace. */
    public static Outcome fails(Outcome o, String... expected) {
        assertEquals(2, o.code, o.err);
        String last = o.lastLine();
        assertTrue(last.startsWith("sparkgpt: "), last);
        for (String e : expected) assertTrue(last.contains(e), "'" + e + "' not in: " + last);
        assertFalse(o.err.contains("\tat ") || o.out.contains("\tat "), "a stack trace:\n" + o.err);
        return o;
    }

    @Test
    void corpusMissingEmptyOrNotUtf8() throws Exception {
        Path out = tmp.resolve("prepared");
        String[] base = {"prepare", "--output=" + out, "--tokenizer=byte", "--master=local[1]"};
        Path missing = tmp.resolve("nowhere.txt");
        fails(run(with(base, "--input=" + missing)), "input " + missing, "does not exist");

        Path empty = Files.writeString(tmp.resolve("empty.txt"), "");
        fails(run(with(base, "--input=" + empty)), "input " + empty, "holds no text");

        // rejected, not replaced: the message names the file, the byte offset and the bytes
        Path latin1 = Files.write(tmp.resolve("latin1.txt"), "caf\u00e9 au lait".getBytes(StandardCharsets.ISO_8859_1));
        fails(run(with(base, "--input=" + latin1)), latin1 + ": invalid UTF-8 at byte 3 (e9): expected UTF-8 text");
        assertFalse(Files.exists(out), "prepare wrote output for input it rejected");

        // with --debug the stack trace follows the message
        Outcome debug = run(with(base, "--input=" + missing, "--debug"));
        assertEquals(2, debug.code);
        assertTrue(debug.err.contains("\tat sparkgpt.driver.data.Prepare"), debug.err);
    }

    @Test
    void badShards() throws Exception {
        // a wrong magic
        Path magic = copyData("magic");
        byte[] shard = Files.readAllBytes(magic.resolve("train_000001.bin"));
        ByteBuffer.wrap(shard).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 20240501);
        Files.write(magic.resolve("train_000001.bin"), shard);
        assertNotStarted(tmp.resolve("out-magic"), "--data=" + magic,
                magic.resolve("train_000001.bin") + " has magic 20240501, expected 20240520");

        // a truncated shard
        Path truncated = copyData("truncated");
        shard = Files.readAllBytes(truncated.resolve("train_000000.bin"));
        Files.write(truncated.resolve("train_000000.bin"), Arrays.copyOf(shard, shard.length - 10));
        assertNotStarted(tmp.resolve("out-truncated"), "--data=" + truncated,
                truncated.resolve("train_000000.bin") + " is " + (shard.length - 10) + " bytes but its header says 2000 tokens");

        // a token id at vocab_size: found by the executor that reads a window holding it, in the step that reads it
        // (nothing scans the whole corpus at start); with shuffle=false step 1 reads windows 0-3, tokens [0, 65)
        Path big = copyData("big");
        char[] tokens = new char[2_000];
        Arrays.fill(tokens, 'a');
        tokens[40] = 256;
        TokenShards.write(FileSystem.getLocal(new Configuration()),
                new org.apache.hadoop.fs.Path(big.resolve("train_000000.bin").toUri()), tokens, 0, tokens.length);
        Path bigOut = tmp.resolve("out-big");
        fails(run(train(bigOut, "--data=" + big, "--shuffle=false")),
                big.resolve("train_000000.bin") + " holds token id 256, not below vocab_size 256");
        assertFalse(Files.exists(bigOut.resolve("latest")), "a checkpoint of a run that read a bad token");
    }

    @Test
    void badConfiguration() throws Exception {
        assertNotStarted(tmp.resolve("out-heads"), "--n_embd=15", "n_embd = 15 (from command line): expected a multiple of n_head = 2");
        assertNotStarted(tmp.resolve("out-positions"), "--init_from=" + good.resolve("step_000002") + " --block_size=32",
                "block_size = 32 is larger than n_positions = 16 of " + good.resolve("step_000002"));
        assertNotStarted(tmp.resolve("out-batch"), "--batch_size=5",
                "batch_size = 5 must be a multiple of partitions x micro_batch_size = 2 x 2 = 4");
        assertNotStarted(tmp.resolve("out-lr"), "--learning_rate=-3e-4",
                "learning_rate = -3e-4 (from command line): expected a positive number");
        assertNotStarted(tmp.resolve("out-key"), "--n_layers=2", "unknown key 'n_layers' (from command line)");
    }

    @Test
    void corruptCheckpointLeavesTheRunAsItWas() throws Exception {
        Path out = tmp.resolve("corrupt");
        ResumeTest.copy(good.resolve("step_000002"), out.resolve("step_000002"));
        Files.copy(good.resolve("latest"), out.resolve("latest"));
        Files.copy(good.resolve("metrics.jsonl"), out.resolve("metrics.jsonl"));
        Path model = out.resolve("step_000002/model.safetensors");
        byte[] bytes = Files.readAllBytes(model);
        Files.write(model, Arrays.copyOf(bytes, bytes.length / 2));
        List<String> before = ResumeTest.list(out);
        String metrics = Files.readString(out.resolve("metrics.jsonl"));
        fails(run(train(out, "--init_from=resume", "--max_steps=4")), model.toString());
        assertEquals(before, ResumeTest.list(out));
        assertEquals(metrics, Files.readString(out.resolve("metrics.jsonl")));
    }

    @Test
    void diskFullWhileACheckpointIsWritten() throws Exception {
        Path out = tmp.resolve("full");
        ResumeTest.copy(good.resolve("step_000002"), out.resolve("step_000002"));
        Files.copy(good.resolve("latest"), out.resolve("latest"));
        Files.copy(good.resolve("metrics.jsonl"), out.resolve("metrics.jsonl"));
        String impl = "spark.hadoop.fs." + FullDiskFileSystem.SCHEME + ".impl";
        System.setProperty(impl, FullDiskFileSystem.class.getName());
        FullDiskFileSystem.bytesLeft.set(4_000); // the metrics lines fit, model.safetensors does not
        Outcome o;
        try {
            o = run(train(Path.of(FullDiskFileSystem.SCHEME + "://" + out), "--init_from=resume", "--max_steps=4"));
        } finally {
            System.clearProperty(impl);
            FullDiskFileSystem.bytesLeft.set(Long.MAX_VALUE);
        }
        fails(o, "cannot write checkpoint " + FullDiskFileSystem.SCHEME + ":" + out.resolve("step_000004"),
                "No space left on device");
        // the previous checkpoint is still the latest and loads; the half-written one has no step_ name
        assertEquals("step_000002", Files.readString(out.resolve("latest")).trim());
        assertFalse(Files.exists(out.resolve("step_000004")));
        assertEquals(out.resolve("step_000002").toString(), Checkpoint.latest(new Configuration(), out.toString()));
        Checkpoint.load(new Configuration(), out.resolve("step_000002").toString());
        // and the run resumes from it once there is room again
        assertEquals(0, run(train(out, "--init_from=resume", "--max_steps=4")).code);
        assertEquals("step_000004", Files.readString(out.resolve("latest")).trim());
    }

    @Test
    void divergenceSkipsNonFiniteStepsThenStops() throws Exception {
        // a learning rate no model survives: after the first update the logits overflow to Inf/NaN
        Path out = tmp.resolve("diverged");
        Outcome o = fails(run(train(out, "--learning_rate=1e30", "--min_lr=0", "--grad_clip=0", "--warmup_steps=0",
                "--max_steps=20", "--ckpt_interval=1", "--max_bad_steps=3")),
                "3 step(s) in a row had a non-finite loss or gradient (last at step 4", "max_bad_steps = 3",
                "lower learning_rate (now 1.0E30)");
        assertTrue(o.out.contains("step 2/20: loss ") && o.out.contains("(not finite: update skipped)"), o.out);
        List<String> metrics = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertEquals(4, metrics.size(), String.join("\n", metrics));
        assertFalse(metrics.get(0).contains("skipped"), metrics.get(0));
        for (int step = 2; step <= 4; step++) {
            assertTrue(metrics.get(step - 1).contains("\"skipped\":true"), metrics.get(step - 1));
        }
        // checkpoints of steps 1-3 hold the weights after step 1, all finite; none of step 4
        assertEquals("step_000003", Files.readString(out.resolve("latest")).trim());
        Checkpoint.Loaded last = Checkpoint.load(new Configuration(), out.resolve("step_000003").toString());
        assertNull(Checkpoint.firstNonFinite(last.model().params(), "weight"));
        assertEquals(1, last.state().optimizerStep());
    }

    /** The train command with these overrides fails naming expected and leaves no out_dir behind. */
    static void assertNotStarted(Path out, String overrides, String expected) {
        fails(run(train(out, overrides.split(" "))), expected);
        assertFalse(Files.exists(out), out + " was created by a run that could not start");
    }

    static Path copyData(String name) throws Exception {
        Path d = Files.createDirectories(tmp.resolve("data-" + name));
        for (String f : List.of("train_000000.bin", "train_000001.bin", "val_000000.bin", "meta.json")) {
            Files.copy(Path.of(data, f), d.resolve(f));
        }
        return d;
    }

    static String[] with(String[] base, String... more) {
        String[] all = Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }
}
