// Executors that are too small: told before the first step (the estimate against Spark's grant), and
// one that still runs out of memory ends the run with one line naming the step and the setting.
package sparkgpt.driver.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.testing.TestData;
import sparkgpt.worker.GptConfig;

@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ExecutorMemoryTest {

    /** Activations and their gradients for 64 sequences of 256 tokens: 733 MB, far over a 512 MB executor. */
    static TrainConfig config(String data, Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("--data=" + data, "--out_dir=" + out, "--n_layer=4", "--n_head=4",
                "--n_embd=128", "--block_size=256", "--batch_size=64", "--micro_batch_size=64", "--partitions=1",
                "--eval_interval=0", "--device=cpu", "--max_steps=2"));
        args.addAll(List.of(more));
        return TestData.trainConfig(args);
    }

    @Test
    void theEstimateMatchesTheMeasuredRuns() {
        // GPT-2 124M, micro-batch 1 x 1024, results through the block manager: out of memory in a 4 GB
        // executor, ran in 5 GB
        long gpt2 = ExecutorMemory.need(new GptConfig(12, 12, 768, 1024, 50257), 1, true, true, 128L << 20, false);
        assertTrue(gpt2 > 4L << 30 && gpt2 <= 5L << 30, "GPT-2 124M: " + (gpt2 >> 20) + " MB");
        // the bench model (L6 H6 C384 T256 V8192, micro-batch 4): died in Spark's default 1 GB, ran in 3 GB
        long bench = ExecutorMemory.need(new GptConfig(6, 6, 384, 256, 8192), 4, true, true, 128L << 20, false);
        assertTrue(bench > 1L << 30 && bench < 3L << 30, "bench model: " + (bench >> 20) + " MB");
        // local mode, weights and gradient handed over in the JVM: ran in a 6 GB heap with the driver's 2 GB
        long local = ExecutorMemory.need(new GptConfig(12, 12, 768, 1024, 50257), 1, true, true, 128L << 20, true);
        assertTrue(local + (4L * 124_439_808 * 4) <= 6L << 30, "GPT-2 124M in local mode: " + (local >> 20) + " MB");
        assertEquals("1536m", ExecutorMemory.setting(1100L << 20));
        assertEquals("2g", ExecutorMemory.setting(1600L << 20));
    }

    @Test
    void theLargestFittingMicroBatchDividesTheShareAndFitsTheMemory() {
        GptConfig bench = new GptConfig(6, 6, 384, 256, 8192);
        long need16 = ExecutorMemory.need(bench, 16, true, false, 0, false);
        long need8 = ExecutorMemory.need(bench, 8, true, false, 0, false);
        long need6 = ExecutorMemory.need(bench, 6, true, false, 0, false);
        long need1 = ExecutorMemory.need(bench, 1, true, false, 0, false);
        assertTrue(need1 < need6 && need6 < need8 && need8 < need16, "the estimate grows with the micro-batch");
        assertEquals(16, ExecutorMemory.largestFitting(bench, 16, need16, false));
        assertEquals(8, ExecutorMemory.largestFitting(bench, 16, need16 - 1, false), "a divisor of 16 below 16");
        assertEquals(6, ExecutorMemory.largestFitting(bench, 12, need8, false), "12's divisors: 6, not 8");
        assertEquals(0, ExecutorMemory.largestFitting(bench, 16, need1 - 1, false), "none fits");
        assertTrue(ExecutorMemory.need(bench, 16, true, false, 0, true) < need16, "local mode moves no broadcast copy");
    }

    @Test
    void tooSmallExecutorsAreToldBeforeTheFirstStepOrWhenTheyRunOut(@TempDir Path tmp) throws Exception {
        String data = TestData.bytes(Files.createDirectories(tmp.resolve("data")), 20_000, 0);
        Files.createDirectories(Path.of(System.getenv("SPARK_HOME"), "jars"));
        AtomicInteger failedAttempts = new AtomicInteger();
        try (JavaSparkContext sc = SparkSetup.context("local-cluster[1,1,1024]", "ExecutorMemoryTest", Map.of(
                "spark.executor.extraClassPath", System.getProperty("java.class.path"),
                "spark.executor.memory", "512m",
                "spark.task.maxFailures", "4"))) {
            UserError before = assertThrows(UserError.class, () -> Trainer.train(sc, config(data, tmp.resolve("a"))));
            assertTrue(before.getMessage().matches("executors need ~\\d+ MB for this model at micro_batch_size = 64 .*"
                    + "spark.executor.memory .* is 512 MB: raise it to at least \\d+[mg], or use micro_batch_size = \\d+"),
                    before.getMessage());
            assertFalse(Files.exists(tmp.resolve("a").resolve("metrics.jsonl")), "nothing was written");

            sc.sc().addSparkListener(new SparkListener() {
                @Override
                public void onTaskEnd(SparkListenerTaskEnd end) {
                    if (!end.taskInfo().successful()) failedAttempts.incrementAndGet();
                }
            });
            UserError during = assertThrows(UserError.class,
                    () -> Trainer.train(sc, config(data, tmp.resolve("b"), "--check_memory=false")));
            assertTrue(during.getMessage().matches("step 1: executor \\d+ ran out of memory .*: raise spark.executor.memory"
                    + " \\(now 512 MB.*or lower micro_batch_size"), during.getMessage());
            assertFalse(during.getMessage().contains("\n"), "one line: " + during.getMessage());
        }
        assertTrue(failedAttempts.get() < 4, "the task was not retried spark.task.maxFailures times: "
                + failedAttempts.get() + " failed attempts");
    }
}
