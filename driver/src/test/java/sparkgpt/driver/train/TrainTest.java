// The training loop on Spark local[2]: loss falls, results do not depend on the partition count,
// runs repeat exactly, and bad batch arithmetic fails with the values named.
package sparkgpt.driver.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.cli.Main;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.testing.TestData;

class TrainTest {
    static JavaSparkContext sc;
    @TempDir
    static Path tmp;
    static String data;

    @BeforeAll
    static void start() throws Exception {
        sc = SparkSetup.context("local[2]", "TrainTest", Map.of());
        data = TestData.bytes(Files.createDirectories(tmp.resolve("data")), 20_000, 2_000);
    }

    @AfterAll
    static void stop() {
        sc.close();
    }

    /** {@link TestData#tinyModel}; each run replaces the last in one out_dir. */
    static TrainConfig config(String... overrides) {
        return TestData.tinyModel(data, tmp.resolve("out"), overrides);
    }

    @Test
    void lossFalls() throws Exception {
        Trainer.Result r = Trainer.train(sc, config("--max_steps=20", "--eval_interval=10"));
        double first = r.losses().get(0), last = r.losses().get(19);
        assertEquals(Math.log(256), first, 0.3, "an untrained model is near-uniform over 256 bytes");
        assertTrue(last < first - 1.0, "loss " + first + " -> " + last);
        // val at steps 0, 10 and the end, and it falls too
        assertEquals(3, r.valLosses().size());
        assertTrue(r.valLosses().get(2)[1] < r.valLosses().get(0)[1] - 1.0);
        List<String> lines = Files.readAllLines(tmp.resolve("out/metrics.jsonl"));
        assertEquals(23, lines.size());
        assertTrue(lines.get(1).startsWith("{\"step\":1,\"loss\":"), lines.get(1));
        assertTrue(lines.get(1).contains("\"tokens_per_s\"") && lines.get(1).contains("\"mfu\""), lines.get(1));
        assertTrue(lines.get(22).startsWith("{\"step\":20,\"val_loss\":"), lines.get(22));
    }

    @Test
    void partitionCountDoesNotChangeTheLosses() {
        List<Double> one = Trainer.train(sc, config("--max_steps=5", "--shuffle=false", "--partitions=1")).losses();
        List<Double> three = Trainer.train(sc, config("--max_steps=5", "--shuffle=false", "--partitions=3")).losses();
        for (int i = 0; i < 5; i++) {
            assertEquals(one.get(i), three.get(i), 1e-5 * Math.abs(one.get(i)), "step " + (i + 1));
        }
        assertNotEquals(one.get(0), one.get(4)); // it did train
    }

    /**
     * Local mode submits each step's job while the previous step computes (NextStep); a checkpoint before every
     * step (ckpt_interval = 1) leaves no step to submit ahead. Both give the same bits, and the listener shows
     * that the first run did submit ahead (a job started while another was running) and the second did not.
     */
    @Test
    void jobsSubmittedAStepAheadGiveTheSameBits() throws Exception {
        Overlaps overlaps = new Overlaps();
        sc.sc().addSparkListener(overlaps);
        try {
            Trainer.Result ahead = Trainer.train(sc, config("--max_steps=6", "--partitions=3", "--ckpt_interval=0"));
            int aheadOverlaps = overlaps.take();
            Trainer.Result inTurn = Trainer.train(sc, config("--max_steps=6", "--partitions=3", "--ckpt_interval=1"));
            int inTurnOverlaps = overlaps.take();
            assertEquals(ahead.losses(), inTurn.losses());
            assertArrayEquals(ahead.params(), inTurn.params());
            assertEquals(5, aheadOverlaps, "steps 2-6 submitted while the step before them ran");
            assertEquals(0, inTurnOverlaps);
        } finally {
            sc.sc().removeSparkListener(overlaps);
        }
    }

    /** Counts jobs that started while another job of the context was running. */
    static final class Overlaps extends org.apache.spark.scheduler.SparkListener {
        private int running, overlaps;

        @Override
        public synchronized void onJobStart(org.apache.spark.scheduler.SparkListenerJobStart job) {
            if (running++ > 0) overlaps++;
        }

        @Override
        public synchronized void onJobEnd(org.apache.spark.scheduler.SparkListenerJobEnd job) {
            running--;
        }

        /** The count since the last take, once the listener has seen every event posted so far. */
        int take() throws java.util.concurrent.TimeoutException {
            sc.sc().listenerBus().waitUntilEmpty();
            synchronized (this) {
                int n = overlaps;
                overlaps = 0;
                return n;
            }
        }
    }

    @Test
    void sameConfigGivesIdenticalLosses() {
        TrainConfig c = config("--max_steps=4", "--shuffle=true", "--partitions=3");
        Trainer.Result a = Trainer.train(sc, c), b = Trainer.train(sc, c);
        assertEquals(a.losses(), b.losses());
        assertArrayEquals(a.params(), b.params());
        // another seed shuffles differently
        assertNotEquals(a.losses(), Trainer.train(sc, config("--max_steps=4", "--shuffle=true", "--partitions=3",
                "--seed=8")).losses());
    }

    @Test
    void badBatchArithmeticNamesTheValues() {
        UserError e = assertThrows(UserError.class,
                () -> Trainer.train(sc, config("--batch_size=10", "--partitions=3", "--micro_batch_size=2")));
        assertEquals("batch_size = 10 must be a multiple of partitions x micro_batch_size = 3 x 2 = 6: use batch_size 6 or 12",
                e.getMessage());
        e = assertThrows(UserError.class,
                () -> Trainer.train(sc, config("--batch_size=12", "--partitions=2", "--micro_batch_size=4")));
        assertTrue(e.getMessage().endsWith("use batch_size 8 or 16, or micro_batch_size 1 or 2 or 3 or 6"), e.getMessage());
    }

    @Test
    void shardsWithoutMetaNeedVocabSize(@TempDir Path dir) throws Exception {
        TestData.bytes(dir, 2_000, 0);
        Files.delete(dir.resolve("meta.json"));
        UserError e = assertThrows(UserError.class, () -> Trainer.train(sc, config("--data=" + dir, "--max_steps=1")));
        assertTrue(e.getMessage().startsWith("vocab_size = 0 but " + dir + " has no meta.json"), e.getMessage());
        assertEquals(1, Trainer.train(sc, config("--data=" + dir, "--max_steps=1", "--vocab_size=256")).losses().size());

        // a token id beyond vocab_size is found by the executor that loads the shard; Main reports
        // the message from inside Spark's exception, naming the file
        Exception inTask = assertThrows(Exception.class,
                () -> Trainer.train(sc, config("--data=" + dir, "--max_steps=1", "--vocab_size=100")));
        UserError user = Main.userError(inTask);
        assertNotNull(user, String.valueOf(inTask));
        assertTrue(user.getMessage().matches(".*train_00000[01]\\.bin holds token id \\d+, not below vocab_size 100"),
                user.getMessage());
    }
}
