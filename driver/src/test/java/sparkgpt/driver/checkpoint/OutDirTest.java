// A run never destroys another: training anew into an out_dir that holds a run stops with exit 2 and
// leaves it byte for byte; overwrite=true removes exactly sparkgpt's files; a later YARN attempt of the
// application that started the run resumes it.
package sparkgpt.driver.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.cli.BadInputTest;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.testing.TestData;
import sparkgpt.driver.train.ResumeTest;
import sparkgpt.worker.io.Json;

@Timeout(value = 5, unit = TimeUnit.MINUTES)
class OutDirTest {
    static final Configuration CONF = new Configuration();
    @TempDir
    static Path tmp;
    static String data;
    /** A finished 4-step run: step_000002, step_000004, latest, metrics.jsonl, loss.png, run.json. */
    static Path finished;

    @BeforeAll
    static void start() throws Exception {
        data = TestData.bytes(Files.createDirectories(tmp.resolve("data")), 4_000, 400);
        finished = tmp.resolve("finished");
        BadInputTest.Outcome ok = BadInputTest.run(train(finished));
        assertEquals(0, ok.code(), ok.err());
        assertEquals(List.of("latest", "loss.png", "metrics.jsonl", "run.json", "step_000002", "step_000004"),
                ResumeTest.list(finished));
    }

    /** `sparkgpt train` of a tiny model for 4 steps into out, a checkpoint every 2, with overrides. */
    static String[] train(Path out, String... overrides) {
        List<String> args = new ArrayList<>(List.of("train", "--data=" + data, "--out_dir=" + out,
                "--n_layer=1", "--n_head=2", "--n_embd=16", "--block_size=16", "--batch_size=4",
                "--micro_batch_size=2", "--partitions=2", "--max_steps=4", "--eval_interval=2", "--eval_batches=1",
                "--ckpt_interval=2", "--keep_checkpoints=0", "--device=cpu", "--master=local[2]"));
        args.addAll(List.of(overrides));
        return args.toArray(new String[0]);
    }

    @Test
    void runJsonNamesTheApplicationAndTheStart() throws Exception {
        Map<?, ?> run = (Map<?, ?>) Json.parse(Files.readString(finished.resolve("run.json")));
        assertEquals(List.of("application_id", "started"), new ArrayList<>(run.keySet()));
        assertTrue(((String) run.get("application_id")).startsWith("local-"), run.toString());
        assertTrue(((String) run.get("started")).endsWith("Z"), run.toString()); // UTC
        Instant started = Instant.parse((String) run.get("started"));
        assertTrue(started.isBefore(Instant.now().plusSeconds(1)) && started.isAfter(Instant.now().minusSeconds(600)));
    }

    @Test
    void aNewRunIntoAFinishedRunStopsAndChangesNothing() throws Exception {
        Map<String, byte[]> before = snapshot(finished);

        BadInputTest.Outcome o = BadInputTest.fails(BadInputTest.run(train(finished)), "out_dir " + finished,
                "step 4, checkpoint " + finished.resolve("step_000004"), "--init_from=resume", "--overwrite=true");
        assertEquals("sparkgpt: out_dir " + finished + " already holds a run (step 4, checkpoint "
                + finished.resolve("step_000004") + "): continue it with --init_from=resume, or start over in another"
                + " out_dir or with --overwrite=true (which removes the old run first)", o.lastLine());
        // a pretrained starting point is a new run too, even the run's own checkpoint
        BadInputTest.fails(BadInputTest.run(train(finished, "--init_from=" + finished.resolve("step_000002"))),
                "out_dir " + finished + " already holds a run (step 4");

        Map<String, byte[]> after = snapshot(finished);
        assertEquals(before.keySet(), after.keySet());
        for (String f : before.keySet()) assertArrayEquals(before.get(f), after.get(f), f);
    }

    @Test
    void theRefusalNamesWhatTheRunGotTo() throws Exception {
        // a run that stopped before its first checkpoint: the step of its metrics
        Path early = Files.createDirectories(tmp.resolve("early"));
        Files.copy(finished.resolve("metrics.jsonl"), early.resolve("metrics.jsonl"));
        BadInputTest.fails(BadInputTest.run(train(early)),
                "out_dir " + early + " already holds a run (step 4 in metrics.jsonl, no checkpoint)");
        // only a checkpoint being written when the driver died
        Path torn = Files.createDirectories(tmp.resolve("torn").resolve(".step_000002.tmp"));
        BadInputTest.fails(BadInputTest.run(train(torn.getParent())),
                "out_dir " + torn.getParent() + " already holds a run (no checkpoint)");
        assertTrue(Files.isDirectory(torn));
        // a user's own files are no run
        Path mine = Files.createDirectories(tmp.resolve("mine"));
        Files.writeString(mine.resolve("notes.txt"), "lr sweep\n");
        assertEquals(0, BadInputTest.run(train(mine, "--max_steps=2")).code());
        assertEquals("lr sweep\n", Files.readString(mine.resolve("notes.txt")));
    }

    @Test
    void overwriteRemovesTheOldRunAndNothingElse() throws Exception {
        Path out = tmp.resolve("over");
        copyTree(finished, out);
        Files.writeString(out.resolve("notes.txt"), "the 4-step run, lr 1e-3\n");
        Files.createDirectories(out.resolve("data-mine"));
        Map<?, ?> old = (Map<?, ?>) Json.parse(Files.readString(out.resolve("run.json")));

        BadInputTest.Outcome o = BadInputTest.run(train(out, "--max_steps=2", "--overwrite=true"));
        assertEquals(0, o.code(), o.err());
        List<String> removed = o.out().lines().filter(l -> l.startsWith("overwrite: removed ")).collect(Collectors.toList());
        List<String> names = List.of("latest", "loss.png", "metrics.jsonl", "run.json", "step_000002", "step_000004");
        assertEquals(names.size(), removed.size(), o.out());
        for (int i = 0; i < names.size(); i++) {
            assertTrue(removed.get(i).endsWith(out.resolve(names.get(i)).toString()), removed.get(i));
        }
        // the new 2-step run alone: no step_000004 of the old one, metrics up to step 2, a new run.json
        assertEquals(List.of("data-mine", "latest", "loss.png", "metrics.jsonl", "notes.txt", "run.json", "step_000002"),
                ResumeTest.list(out));
        assertEquals("the 4-step run, lr 1e-3\n", Files.readString(out.resolve("notes.txt")));
        assertEquals(2.0, Files.readAllLines(out.resolve("metrics.jsonl")).stream()
                .mapToDouble(l -> ResumeTest.number(l, "step")).max().orElse(0));
        Map<?, ?> now = (Map<?, ?>) Json.parse(Files.readString(out.resolve("run.json")));
        assertNotEquals(old.get("application_id"), now.get("application_id"));
    }

    @Test
    void resumeContinuesARunAsBefore() throws Exception {
        Path out = tmp.resolve("continued");
        copyTree(finished, out);
        byte[] run = Files.readAllBytes(out.resolve("run.json"));
        BadInputTest.Outcome o = BadInputTest.run(train(out, "--max_steps=6", "--init_from=resume"));
        assertEquals(0, o.code(), o.err());
        assertEquals("step_000006", Files.readString(out.resolve("latest")).trim());
        assertArrayEquals(run, Files.readAllBytes(out.resolve("run.json")), "a resumed run keeps the run's marker");
    }

    @Test
    void theRule() {
        String app = "application_1718000000000_0042";
        // a new run into an empty out_dir starts; init_from=resume always resumes
        assertEquals(OutDir.Action.FRESH, OutDir.decide(false, false, false, null, app, null));
        assertEquals(OutDir.Action.RESUME, OutDir.decide(true, false, true, "other", app, null));
        // YARN's attempt 2 of the application that started the run resumes it, overwrite or not
        assertEquals(OutDir.Action.RETRY, OutDir.decide(false, false, true, app, app, "2"));
        assertEquals(OutDir.Action.RETRY, OutDir.decide(false, true, true, app, app, "3"));
        // another application, the first attempt, local mode (no attempt) or no run.json: refused
        assertEquals(OutDir.Action.REFUSE, OutDir.decide(false, false, true, "application_1718000000000_0041", app, "2"));
        assertEquals(OutDir.Action.REFUSE, OutDir.decide(false, false, true, app, app, "1"));
        assertEquals(OutDir.Action.REFUSE, OutDir.decide(false, false, true, app, app, null));
        assertEquals(OutDir.Action.REFUSE, OutDir.decide(false, false, true, null, app, "2"));
        // ... or, with overwrite, the old run removed first
        assertEquals(OutDir.Action.OVERWRITE, OutDir.decide(false, true, true, "application_1718000000000_0041", app, "2"));
        assertEquals(OutDir.Action.OVERWRITE, OutDir.decide(false, true, true, app, app, "1"));
    }

    @Test
    void aLaterAttemptResumesWhatTheFirstWrote() throws Exception {
        String app = "application_1718000000000_0042";
        Path out = tmp.resolve("attempts");
        copyTree(finished, out);
        Files.writeString(out.resolve("run.json"), "{\"application_id\": \"" + app + "\", \"started\": \"2024-06-10T06:13:20Z\"}\n");
        String dir = out.toString();

        OutDir.Start retry = OutDir.start(CONF, dir, "scratch", false, app, "2");
        assertEquals(new OutDir.Start(OutDir.Action.RETRY, out.resolve("step_000004").toString()), retry);
        assertTrue(retry.resumes());
        assertEquals(OutDir.Action.RETRY, OutDir.start(CONF, dir, out.resolve("step_000002").toString(), false, app, "2").action());
        for (String attempt : new String[] {"1", null}) {
            UserError e = assertThrows(UserError.class, () -> OutDir.start(CONF, dir, "scratch", false, app, attempt));
            assertTrue(e.getMessage().startsWith("out_dir " + dir + " already holds a run (step 4"), e.getMessage());
        }
        assertThrows(UserError.class, () -> OutDir.start(CONF, dir, "scratch", false, "application_1718000000000_0043", "2"));

        // attempt 1 died before its first checkpoint: attempt 2 starts from scratch, rewriting metrics and run.json
        Path early = Files.createDirectories(tmp.resolve("attempts-early"));
        Files.copy(out.resolve("run.json"), early.resolve("run.json"));
        Files.copy(out.resolve("metrics.jsonl"), early.resolve("metrics.jsonl"));
        OutDir.Start fresh = OutDir.start(CONF, early.toString(), "scratch", false, app, "2");
        assertEquals(new OutDir.Start(OutDir.Action.RETRY, null), fresh);
        OutDir.begin(CONF, early.toString(), fresh, app);
        assertEquals(List.of("metrics.jsonl", "run.json"), ResumeTest.list(early));
        Map<?, ?> run = (Map<?, ?>) Json.parse(Files.readString(early.resolve("run.json")));
        assertEquals(app, run.get("application_id"));
        assertNotEquals("2024-06-10T06:13:20Z", run.get("started"));

        // a torn run.json names no application: no retry
        Files.writeString(early.resolve("run.json"), "{\"application_id\": \"appl");
        assertNull(OutDir.applicationId(CONF, early.toString()));
        assertThrows(UserError.class, () -> OutDir.start(CONF, early.toString(), "scratch", false, app, "2"));
    }

    /** Every file under dir, by relative path, with its bytes. */
    static Map<String, byte[]> snapshot(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            Map<String, byte[]> files = new java.util.TreeMap<>();
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p)) files.put(dir.relativize(p).toString(), Files.readAllBytes(p));
            }
            return files;
        }
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(target);
                else Files.copy(p, target);
            }
        }
    }
}
