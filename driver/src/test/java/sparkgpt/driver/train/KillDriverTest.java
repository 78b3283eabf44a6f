// SIGKILL the driver JVM mid-run: every step_* directory it left is complete, `latest` names one,
// and rerunning the same command with init_from=resume ends with the same bits as an undisturbed run.
package sparkgpt.driver.train;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.cli.Main;
import sparkgpt.driver.testing.TestData;

class KillDriverTest {
    static final int STEPS = 12;

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void killedRunResumesToTheSameBits(@TempDir Path tmp) throws Exception {
        String data = TestData.bytes(Files.createDirectories(tmp.resolve("data")), 20_000, 2_000);
        Path killed = tmp.resolve("killed"), undisturbed = tmp.resolve("undisturbed");

        // the driver in its own JVM, as `sparkgpt train` runs it, killed once it has written a checkpoint
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--add-") || a.startsWith("-XX:") || a.startsWith("-D")) cmd.add(a);
        }
        cmd.addAll(List.of("-Xmx1g", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args(data, killed));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("child.log").toFile()).start();
        Path latest = killed.resolve("latest");
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.exists(latest) && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(10);
            assertTrue(child.isAlive(), "the run ended before it was killed:\n" + Files.readString(tmp.resolve("child.log")));
            assertTrue(Files.exists(latest), "no checkpoint within 120 s:\n" + Files.readString(tmp.resolve("child.log")));
        } finally {
            child.destroyForcibly(); // SIGKILL: no shutdown hooks, no finally blocks
            child.waitFor();
        }
        String log = Files.readString(tmp.resolve("child.log"));
        assertFalse(log.contains("step " + STEPS + "/" + STEPS), log);

        // what the kill left: only complete step_* directories, and latest names one of them
        for (String name : ResumeTest.list(killed)) {
            if (name.startsWith("step_")) {
                assertEquals(List.of("config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"),
                        ResumeTest.list(killed.resolve(name)), name);
            }
        }
        String named = Files.readString(latest).trim();
        assertTrue(Files.isDirectory(killed.resolve(named)), named);

        // the same command again, resuming; then the run that was never killed, in this JVM
        assertEquals(0, Main.exitCode(with(args(data, killed), "--init_from=resume"), System.err));
        assertEquals(0, Main.exitCode(args(data, undisturbed).toArray(new String[0]), System.err));
        String last = String.format("step_%06d/", STEPS);
        for (String f : List.of("model.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(Files.readAllBytes(undisturbed.resolve(last + f)), Files.readAllBytes(killed.resolve(last + f)), f);
        }
        assertEquals(ResumeTest.withoutTimes(Files.readAllLines(undisturbed.resolve("metrics.jsonl"))),
                ResumeTest.withoutTimes(Files.readAllLines(killed.resolve("metrics.jsonl"))));

        // and once more: the run is finished, nothing to do, exit 0, nothing written
        long modified = Files.getLastModifiedTime(killed.resolve("metrics.jsonl")).toMillis();
        assertEquals(0, Main.exitCode(with(args(data, killed), "--init_from=resume"), System.err));
        assertEquals(modified, Files.getLastModifiedTime(killed.resolve("metrics.jsonl")).toMillis());
    }

    /** A tiny model on 2 shuffled partitions, a checkpoint every 3 steps, eval every 4. */
    static List<String> args(String data, Path out) {
        return List.of("train", "--data=" + data, "--out_dir=" + out, "--n_layer=2", "--n_head=2", "--n_embd=32",
                "--block_size=16", "--batch_size=4", "--micro_batch_size=2", "--partitions=2", "--shuffle=true",
                "--learning_rate=3e-3", "--warmup_steps=2", "--grad_clip=0.5", "--eval_interval=4", "--eval_batches=2",
                "--seed=5", "--ckpt_interval=3", "--keep_checkpoints=0", "--max_steps=" + STEPS, "--device=cpu",
                "--master=local[2]");
    }

    static String[] with(List<String> args, String more) {
        List<String> all = new ArrayList<>(args);
        all.add(more);
        return all.toArray(new String[0]);
    }
}
