// Training on a real multi-process cluster (local-cluster: a Master and two Workers in this JVM, each
// executor its own JVM): the result equals local mode, and killing an executor mid-run changes nothing.
package sparkgpt.driver.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.TransferConfig;
import sparkgpt.driver.step.BFloat16;
import sparkgpt.driver.step.TaskGpu;
import sparkgpt.driver.step.WeightBlocks;
import sparkgpt.driver.testing.TestData;

@Timeout(value = 240, unit = TimeUnit.SECONDS)
public class ClusterTest {
    static final int STEPS = 6;
    @TempDir
    static Path tmp;
    static String data;
    static Trainer.Result local;
    static JavaSparkContext cluster;

    @BeforeAll
    static void start() throws Exception {
        data = TestData.bytes(Files.createDirectories(tmp.resolve("data")), 20_000, 0);
        try (JavaSparkContext sc = SparkSetup.context("local[2]", "ClusterTest-local", Map.of())) {
            local = Trainer.train(sc, config("local"));
        }
        // local-cluster needs SPARK_HOME/jars to exist (surefire sets SPARK_HOME to target/spark-home)
        Files.createDirectories(Path.of(System.getenv("SPARK_HOME"), "jars"));
        // GPU scheduling as on a GPU cluster: each worker "has" GPU 0 (the script is what Spark runs to find them)
        Path gpus = tmp.resolve("gpu-discovery.sh");
        Files.writeString(gpus, "#!/bin/sh\necho '{\"name\": \"gpu\", \"addresses\": [\"0\"]}'\n");
        Files.setPosixFilePermissions(gpus, PosixFilePermissions.fromString("rwx------"));
        cluster = SparkSetup.context("local-cluster[2,1,1024]", "ClusterTest", Map.of(
                "spark.executor.extraClassPath", System.getProperty("java.class.path"),
                "spark.worker.resource.gpu.amount", "1",
                "spark.worker.resource.gpu.discoveryScript", gpus.toString(),
                "spark.executor.resource.gpu.amount", "1",
                "spark.task.resource.gpu.amount", "1",
                "spark.task.maxFailures", "4"));
    }

    @AfterAll
    static void stop() {
        if (cluster != null) cluster.close(); // stops the Workers, which kill their executor JVMs
    }

    /** A tiny model on 2 partitions, shuffled windows seeded from (seed, epoch, partition). */
    static TrainConfig config(String name, String... more) {
        List<String> args = new ArrayList<>(List.of("--data=" + data, "--out_dir=" + tmp.resolve("out-" + name),
                "--n_layer=2", "--n_head=2", "--n_embd=32", "--block_size=16", "--batch_size=8",
                "--micro_batch_size=2", "--partitions=2", "--shuffle=true", "--learning_rate=3e-3",
                "--warmup_steps=2", "--eval_interval=0", "--seed=11", "--device=cpu", "--max_steps=" + STEPS));
        args.addAll(List.of(more));
        return TestData.trainConfig(args);
    }

    @Test
    void separateExecutorJvmsTrainAsLocalModeDoes() {
        Trainer.Result r = Trainer.train(cluster, config("cluster"));
        assertEquals(STEPS, r.losses().size());
        // the cpu kernels and GradientSum's partition order make this exact; allow float summation order
        for (int i = 0; i < STEPS; i++) {
            assertEquals(local.losses().get(i), r.losses().get(i), 1e-5 * local.losses().get(i), "step " + (i + 1));
        }
        float[] a = local.params(), b = r.params();
        for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-5f + 1e-4f * Math.abs(a[i]), "parameter " + i);
        assertTrue(executors().size() >= 2, "two executor JVMs: " + executors());

        // each task holds the GPU its executor's worker discovered (WorkerRuntime maps it to an OpenCL device)
        List<String> seen = cluster.parallelize(List.of(0, 1), 2).map(i -> String.join(",", TaskGpu.addresses())).collect();
        assertEquals(List.of("0", "0"), seen);
    }

    @Test
    void streamedGradientsGiveTheTreesBitsAndLeaveNoBlocksBehind() throws Exception {
        // 0.01 MB blocks: several a layer, each put by the executors as the last micro-batch's backward finishes it; the
        // weights come from the driver's block manager, tree's through TorrentBroadcast
        TrainConfig streamed = config("stream", "--aggregation=stream", "--transfer_block_mb=0.01");
        assertEquals("stream", streamed.transfer().aggregationFor(34_176, false, 2));
        Trainer.Result stream = Trainer.train(cluster, streamed);
        Trainer.Result tree = Trainer.train(cluster, config("tree", "--aggregation=tree", "--transfer_block_mb=0.01"));
        assertEquals(tree.losses(), stream.losses());
        assertArrayEquals(tree.params(), stream.params());
        assertEquals(local.losses().get(0), stream.losses().get(0), 1e-5 * local.losses().get(0));
        // every step's gradient blocks are dropped from the executors once the driver has summed them, and the weight
        // blocks the driver served (WeightBlocks.served) from the driver once the step's job has ended
        scala.Function1<org.apache.spark.storage.BlockId, Object> gradient = (scala.Function1<org.apache.spark.storage.BlockId, Object>
                & java.io.Serializable) id -> // asked of every executor's block manager, so it travels
                id instanceof org.apache.spark.storage.BroadcastBlockId b
                        && (b.field().startsWith("gradient_") || b.field().startsWith("weights_"));
        List<?> left = List.of();
        for (int t = 0; t < 50; t++) {
            left = scala.jdk.javaapi.CollectionConverters.asJava(
                    org.apache.spark.SparkEnv.get().blockManager().master().getMatchingBlockIds(gradient, true));
            if (left.isEmpty()) break;
            Thread.sleep(100);
        }
        assertEquals(List.of(), left);
    }

    @Test
    void bf16WeightsReachExecutorJvmsAsTheRoundedDriverWeights() {
        // short[] blocks through TorrentBroadcast and Kryo into separate JVMs, expanded there to fp32
        float[] params = local.params();
        WeightBlocks weights = WeightBlocks.broadcast(cluster, params, TransferConfig.blockFloats(0.01), true);
        assertTrue(weights.blocks() > 1);
        List<float[]> seen = cluster.parallelize(List.of(0, 1), 2).map(x -> {
            float[] into = new float[params.length];
            weights.copyInto(into);
            return into;
        }).collect();
        weights.destroy();
        for (float[] got : seen) {
            for (int i = 0; i < params.length; i++) assertEquals(BFloat16.round(params[i]), got[i], "weight " + i);
        }
    }

    @Test
    void killingAnExecutorMidRunChangesNothing() throws Exception {
        Trainer.Result clean = Trainer.train(cluster, config("clean"));

        // when the job of step 3 starts, SIGKILL one executor JVM: its task fails, its cached partition of
        // windows (and the streams it opened) is lost; Spark reruns the task elsewhere and the Worker starts a
        // new executor
        AtomicLong killed = new AtomicLong(-1);
        SparkListener killer = new SparkListener() {
            @Override
            public void onJobStart(SparkListenerJobStart job) {
                String description = job.properties().getProperty("spark.job.description");
                if (description != null && description.startsWith("step 3 ") && killed.get() < 0) {
                    List<ProcessHandle> executors = executors();
                    if (!executors.isEmpty()) {
                        ProcessHandle victim = executors.get(0);
                        killed.set(victim.pid());
                        victim.destroyForcibly();
                    }
                }
            }
        };
        cluster.sc().addSparkListener(killer);
        Trainer.Result disturbed;
        try {
            disturbed = Trainer.train(cluster, config("disturbed"));
        } finally {
            cluster.sc().removeSparkListener(killer);
        }
        assertTrue(killed.get() > 0, "an executor was killed");
        assertTrue(ProcessHandle.of(killed.get()).map(p -> !p.isAlive()).orElse(true), "pid " + killed.get() + " is dead");
        assertEquals(clean.losses(), disturbed.losses());
        assertArrayEquals(clean.params(), disturbed.params());
    }

    /** This cluster's executor JVMs: children of its Workers, which run inside this JVM. */
    static List<ProcessHandle> executors() {
        String appId = cluster.sc().applicationId();
        List<ProcessHandle> out = new ArrayList<>();
        ProcessHandle.current().descendants().forEach(p -> {
            String line = commandLine(p);
            if (p.isAlive() && line.contains("CoarseGrainedExecutorBackend") && line.contains(appId)) out.add(p);
        });
        return out;
    }

    /** /proc/PID/cmdline: ProcessHandle.Info drops the arguments of a command line as long as an executor's. */
    static String commandLine(ProcessHandle p) {
        try {
            return Files.readString(Path.of("/proc", String.valueOf(p.pid()), "cmdline")).replace('\0', ' ');
        } catch (java.io.IOException e) {
            return p.info().commandLine().orElse("");
        }
    }
}
