// Training on a corpus four times its executors' heap: 2 GB of shards, two executor JVMs of 512 MB each
// (local-cluster), windows read from the shards as each step needs them; a resumed run reads the same ones.
package sparkgpt.driver.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.data.TokenShards;
import sparkgpt.driver.testing.TestData;

@Timeout(value = 240, unit = TimeUnit.SECONDS)
public class LargeCorpusTest {
    static final int EXECUTOR_MB = 512, SHARD_TOKENS = 64 << 20;
    /** 11 train shards and 5 val shards of 64 Mi tokens: 1,408 MiB and 640 MiB on disk. */
    static final int TRAIN_SHARDS = 11, VAL_SHARDS = 5;
    /** Under target/, not /tmp (often a small tmpfs); removed afterwards. */
    static final Path DIR = Path.of("target", "LargeCorpusTest");
    static String data;
    static JavaSparkContext cluster;

    @BeforeAll
    static void start() throws Exception {
        deleteDir();
        Path d = Files.createDirectories(DIR.resolve("data"));
        data = d.toAbsolutePath().toString();
        FileSystem fs = FileSystem.getLocal(new Configuration());
        char[] tokens = new char[SHARD_TOKENS];
        SplittableRandom random = new SplittableRandom(42);
        for (int s = 0; s < TRAIN_SHARDS + VAL_SHARDS; s++) {
            // uniform bytes: nothing to learn, so the loss stays near ln 256 = 5.55 however the windows are drawn
            for (int i = 0; i < SHARD_TOKENS; i += 8) {
                long r = random.nextLong();
                for (int k = 0; k < 8; k++) tokens[i + k] = (char) ((r >>> (8 * k)) & 0xff);
            }
            String name = s < TRAIN_SHARDS ? String.format("train_%06d.bin", s) : String.format("val_%06d.bin", s - TRAIN_SHARDS);
            TokenShards.write(fs, new org.apache.hadoop.fs.Path(d.toUri().toString(), name), tokens, 0, SHARD_TOKENS);
        }
        long tokensAll = (long) SHARD_TOKENS * (TRAIN_SHARDS + VAL_SHARDS);
        TokenShards.writeMeta(fs, new org.apache.hadoop.fs.Path(d.toUri()), new TokenShards.Meta("byte", 256, 1,
                (long) SHARD_TOKENS * TRAIN_SHARDS, (long) SHARD_TOKENS * VAL_SHARDS));
        // what makes the test meaningful: each executor's share of the train split, and the val split that
        // every partition evaluates on, are each larger than an executor's whole heap
        assertTrue(2L * SHARD_TOKENS * TRAIN_SHARDS / 2 > (long) EXECUTOR_MB << 20);
        assertTrue(2L * SHARD_TOKENS * VAL_SHARDS > (long) EXECUTOR_MB << 20);
        assertEquals(2L << 30, 2 * tokensAll); // 2 GiB of tokens: twice the two executors' heaps together

        Files.createDirectories(Path.of(System.getenv("SPARK_HOME"), "jars"));
        cluster = SparkSetup.context("local-cluster[2,1," + EXECUTOR_MB + "]", "LargeCorpusTest", Map.of(
                "spark.executor.memory", EXECUTOR_MB + "m",
                "spark.executor.extraClassPath", System.getProperty("java.class.path")));
    }

    @AfterAll
    static void stop() throws IOException {
        if (cluster != null) cluster.close();
        deleteDir();
    }

    /** A tiny model on 2 shuffled partitions; the end's eval reads the val split in order. */
    static TrainConfig config(String name, String... overrides) {
        List<String> args = new java.util.ArrayList<>(List.of("--data=" + data,
                "--out_dir=" + DIR.resolve("out-" + name).toAbsolutePath(),
                "--n_layer=1", "--n_head=2", "--n_embd=32", "--block_size=32", "--batch_size=8", "--micro_batch_size=2",
                "--partitions=2", "--shuffle=true", "--learning_rate=1e-3", "--warmup_steps=1", "--eval_interval=0",
                "--eval_batches=2", "--ckpt_interval=2", "--seed=5", "--device=cpu"));
        args.addAll(List.of(overrides));
        return TestData.trainConfig(args);
    }

    @Test
    void trainsOnACorpusLargerThanTheExecutorsAndResumesOnTheSameWindows() {
        assertEquals(EXECUTOR_MB, cluster.sc().executorMemory());
        Trainer.Result straight = Trainer.train(cluster, config("straight", "--max_steps=4"));
        assertEquals(4, straight.losses().size());
        for (double loss : straight.losses()) assertTrue(Math.abs(loss - Math.log(256)) < 0.5, "loss " + loss);
        assertEquals(1, straight.valLosses().size());
        assertTrue(Math.abs(straight.valLosses().get(0)[1] - Math.log(256)) < 0.5, "val loss " + straight.valLosses().get(0)[1]);

        // 2 steps, then a resumed run to 4: the windows of steps 3 and 4 depend only on (seed, step, partition),
        // so the losses and weights are those of the run that did not stop
        Trainer.Result first = Trainer.train(cluster, config("split", "--max_steps=2", "--lr_decay_steps=4"));
        Trainer.Result resumed = Trainer.train(cluster, config("split", "--max_steps=4", "--init_from=resume"));
        assertEquals(straight.losses().subList(0, 2), first.losses());
        assertEquals(straight.losses().subList(2, 4), resumed.losses());
        assertArrayEquals(straight.valLosses().get(0), resumed.valLosses().get(0));
        assertArrayEquals(straight.params(), resumed.params());
    }

    static void deleteDir() throws IOException {
        if (!Files.exists(DIR)) return;
        try (Stream<Path> paths = Files.walk(DIR)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
