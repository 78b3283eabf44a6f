// Speculation on a real standalone cluster (a Master and two Workers in this JVM, executors in their own
// JVMs): one executor's tasks are slowed on purpose; the step does not wait for them (a copy runs on the
// other executor), and the bits equal an undisturbed run.
package sparkgpt.driver.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.deploy.master.Master;
import org.apache.spark.deploy.worker.Worker;
import org.apache.spark.rpc.RpcEnv;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.step.Straggler;
import sparkgpt.driver.testing.TestData;

@Timeout(value = 300, unit = TimeUnit.SECONDS)
class StragglerTest {
    static final int STEPS = 4;
    static final long SLOW_MS = 30_000;

    static TrainConfig config(String data, Path out) {
        return TestData.trainConfig(List.of("--data=" + data, "--out_dir=" + out, "--n_layer=2", "--n_head=2",
                "--n_embd=32", "--block_size=16", "--batch_size=8", "--micro_batch_size=2", "--partitions=2",
                "--shuffle=true", "--learning_rate=3e-3", "--warmup_steps=2", "--eval_interval=0", "--seed=11",
                "--device=cpu", "--max_steps=" + STEPS));
    }

    @Test
    void aSlowExecutorDoesNotHoldTheStepAndTheBitsStayTheSame(@TempDir Path tmp) throws Exception {
        String data = TestData.bytes(Files.createDirectories(tmp.resolve("data")), 20_000, 0);
        Trainer.Result undisturbed;
        try (JavaSparkContext sc = SparkSetup.context("local[2]", "StragglerTest-local", Map.of())) {
            undisturbed = Trainer.train(sc, config(data, tmp.resolve("local")));
        }
        Files.createDirectories(Path.of(System.getenv("SPARK_HOME"), "jars"));
        // Spark never runs a speculative copy on the host of the attempt it copies, and local-cluster puts every
        // executor on one host: the two Workers here are 127.0.0.1 and 127.0.0.2 (both loopback)
        SparkConf daemons = new SparkConf();
        scala.Tuple3<RpcEnv, Object, scala.Option<Object>> master = Master.startRpcEnvAndEndpoint("127.0.0.1", 0, 0, daemons);
        String url = "spark://127.0.0.1:" + master._1().address().port(); // _2: the web UI's port
        List<RpcEnv> workers = new ArrayList<>();
        for (int w = 1; w <= 2; w++) {
            workers.add(Worker.startRpcEnvAndEndpoint("127.0.0." + w, 0, 0, 1, 1024, new String[] {url},
                    Files.createDirectories(tmp.resolve("work-" + w)).toString(), scala.Option.apply(w), daemons,
                    scala.Option.empty()));
        }
        Trainer.Result r;
        AtomicInteger speculative = new AtomicInteger(), killed = new AtomicInteger();
        // executor 0 sleeps 30 s before each training task; speculation is on by default off local mode
        try (JavaSparkContext sc = SparkSetup.context(url, "StragglerTest", Map.of(
                "spark.executor.extraClassPath", System.getProperty("java.class.path"),
                "spark.executor.memory", "1g",
                "spark.executor.extraJavaOptions", "-D" + Straggler.PROPERTY + "=0:" + SLOW_MS))) {
            assertEquals("true", sc.getConf().get("spark.speculation"));
            sc.sc().addSparkListener(new SparkListener() {
                @Override
                public void onTaskEnd(SparkListenerTaskEnd end) {
                    if (end.taskInfo().speculative() && end.taskInfo().successful()) speculative.incrementAndGet();
                    if (end.taskInfo().killed()) killed.incrementAndGet();
                }
            });
            r = Trainer.train(sc, config(data, tmp.resolve("cluster")));
        } finally {
            for (RpcEnv w : workers) {
                w.shutdown(); // the Workers kill their executors
                w.awaitTermination();
            }
            master._1().shutdown();
            master._1().awaitTermination();
        }
        assertEquals(STEPS, r.losses().size());
        for (Trainer.StepTiming t : r.timings()) {
            assertTrue(t.stepMs() < SLOW_MS, "a step waited for the slow attempt: " + t.stepMs() + " ms");
        }
        assertTrue(speculative.get() >= STEPS, "speculative copies that finished first: " + speculative.get());
        assertTrue(killed.get() >= 1, "slow attempts killed: " + killed.get());
        assertEquals(undisturbed.losses(), r.losses());
        assertArrayEquals(undisturbed.params(), r.params());
    }
}
