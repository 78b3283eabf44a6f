// How weights and gradients travel: in blocks of transfer_block_mb, summed by treeAggregate or by a
// sliced reduceByKey, fp32 or bf16; and each step's loss in the Spark UI's job list.
package sparkgpt.driver.step;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.TransferConfig;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.testing.TestData;
import sparkgpt.driver.train.SparkSetup;
import sparkgpt.driver.train.Trainer;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;

class TransferTest {
    static JavaSparkContext sc;
    @TempDir
    static Path tmp;
    static String data;
    static final List<String> descriptions = Collections.synchronizedList(new ArrayList<>());

    @BeforeAll
    static void start() throws Exception {
        sc = SparkSetup.context("local[2]", "TransferTest", Map.of());
        sc.sc().addSparkListener(new SparkListener() {
            @Override
            public void onJobStart(SparkListenerJobStart job) {
                descriptions.add(String.valueOf(job.properties().getProperty("spark.job.description")));
            }
        });
        data = TestData.bytes(Files.createDirectories(tmp.resolve("data")), 20_000, 2_000);
    }

    @AfterAll
    static void stop() {
        sc.close();
    }

    /** {@link TestData#tinyModel} in micro-batches of 1, no checkpoints; each run replaces the last in one out_dir. */
    static TrainConfig config(String... overrides) {
        List<String> args = new ArrayList<>(List.of("--micro_batch_size=1", "--ckpt_interval=0"));
        args.addAll(List.of(overrides));
        return TestData.tinyModel(data, tmp.resolve("out"), args.toArray(String[]::new));
    }

    @Test
    void smallBlocksGiveTheSameBitsAsOneBlock() {
        // 0.004 MiB = 1048 floats: the ~35k-parameter model travels as ~34 blocks, the last one ragged
        TrainConfig small = config("--max_steps=3", "--partitions=2", "--transfer_block_mb=0.004");
        int size = new ParameterLayout(new GptConfig(2, 2, 32, 16, 256)).size();
        assertTrue(WeightBlocks.count(size, small.transfer().blockFloats()) > 20);
        assertNotEquals(0, size % small.transfer().blockFloats(), "a ragged last block");
        Trainer.Result one = Trainer.train(sc, config("--max_steps=3", "--partitions=2"));
        Trainer.Result many = Trainer.train(sc, small);
        assertEquals(one.losses(), many.losses());
        assertArrayEquals(one.params(), many.params());
        assertNotEquals(one.losses().get(0), one.losses().get(2)); // it trained
    }

    @Test
    void slicedGivesTheSameBitsAsTree() {
        for (String partitions : new String[] {"2", "3"}) {
            Trainer.Result tree = Trainer.train(sc, config("--max_steps=3", "--partitions=" + partitions,
                    "--transfer_block_mb=0.01", "--aggregation=tree"));
            Trainer.Result sliced = Trainer.train(sc, config("--max_steps=3", "--partitions=" + partitions,
                    "--transfer_block_mb=0.01", "--aggregation=sliced"));
            assertEquals(tree.losses(), sliced.losses(), "partitions " + partitions);
            assertArrayEquals(tree.params(), sliced.params(), "partitions " + partitions);
        }
    }

    @Test
    void aLentGradientBufferGivesTheSameBitsAsACopy() {
        // one block under tree: each result references its model's own gradient buffer until Spark has
        // serialized it; 3 partitions on 2 threads, so a third task borrows a model while results are written
        Trainer.Result lent = Trainer.train(sc, config("--max_steps=4", "--partitions=3", "--aggregation=tree"));
        Trainer.Result copied = Trainer.train(sc, config("--max_steps=4", "--partitions=3", "--aggregation=sliced"));
        assertEquals(copied.losses(), lent.losses());
        assertArrayEquals(copied.params(), lent.params());
    }

    static final java.util.concurrent.atomic.AtomicReference<String> ORDER = new java.util.concurrent.atomic.AtomicReference<>();

    @Test
    void completionListenersRunBeforeTheResultIsSerialized() {
        // why a lent model is given back by the result's serializer, not by a task completion listener
        ORDER.set(null);
        sc.parallelize(List.of(1), 1).map(x -> {
            java.util.concurrent.atomic.AtomicBoolean completed = new java.util.concurrent.atomic.AtomicBoolean();
            org.apache.spark.TaskContext.get().addTaskCompletionListener(
                    (org.apache.spark.util.TaskCompletionListener) c -> completed.set(true));
            GradientStep.Partial p = new GradientStep.Partial(0, 1.0, new float[][] {{1f}}, 0, 0, 0, 0);
            p.afterSerialized = () -> ORDER.set(completed.get() ? "completion listener, then serialization"
                    : "serialization, then completion listener");
            return GradientSum.add(new GradientSum(), p);
        }).collect();
        assertEquals("completion listener, then serialization", ORDER.get());
    }

    private static final int STEPS = 35;
    private static Trainer.Result fp32Run;

    /**
     * 35 steps with one option against fp32 (trained once for both tests): each step's loss within 2%, the
     * final loss within 1%, and the loss falls by more than 1.0; the option's run is returned.
     */
    private static Trainer.Result trainsLikeFp32(String option, String why) {
        if (fp32Run == null) fp32Run = Trainer.train(sc, config("--max_steps=" + STEPS, "--partitions=2"));
        Trainer.Result bf16 = Trainer.train(sc, config("--max_steps=" + STEPS, "--partitions=2", option));
        assertNotEquals(fp32Run.losses(), bf16.losses(), why);
        double worst = 0;
        for (int i = 0; i < STEPS; i++) {
            double a = fp32Run.losses().get(i), b = bf16.losses().get(i);
            worst = Math.max(worst, Math.abs(a - b) / a);
            assertEquals(a, b, 0.02 * a, option + ", step " + (i + 1));
        }
        double last32 = fp32Run.losses().get(STEPS - 1), last16 = bf16.losses().get(STEPS - 1);
        assertEquals(last32, last16, 0.01 * last32, option + ", final loss");
        assertTrue(last16 < bf16.losses().get(0) - 1.0, option + ": loss " + bf16.losses().get(0) + " -> " + last16);
        System.out.printf(Locale.ROOT, "%s vs fp32 over %d steps: largest relative loss difference %.4f, final %.4f vs %.4f%n",
                option, STEPS, worst, last16, last32);
        return bf16;
    }

    @Test
    void bf16GradientsTrainLikeFp32() {
        trainsLikeFp32("--grad_dtype=bf16", "the bf16 gradient was rounded");
    }

    @Test
    void bf16WeightsTrainLikeFp32() {
        Trainer.Result bf16 = trainsLikeFp32("--weight_dtype=bf16", "the forward saw bf16-rounded weights");
        // the driver's master weights stay fp32: AdamW's small updates are not rounded away
        int offGrid = 0;
        for (float w : bf16.params()) if (w != BFloat16.round(w)) offGrid++;
        assertTrue(offGrid > bf16.params().length / 2, offGrid + " of " + bf16.params().length + " weights off the bf16 grid");
    }

    @Test
    void bf16WeightsInSmallBlocksGiveTheSameBitsAsOneBlock() {
        for (String grads : new String[] {"fp32", "bf16"}) {
            Trainer.Result one = Trainer.train(sc, config("--max_steps=3", "--partitions=2", "--weight_dtype=bf16",
                    "--grad_dtype=" + grads));
            Trainer.Result many = Trainer.train(sc, config("--max_steps=3", "--partitions=2", "--weight_dtype=bf16",
                    "--grad_dtype=" + grads, "--transfer_block_mb=0.004"));
            assertEquals(one.losses(), many.losses(), "grad_dtype " + grads);
            assertArrayEquals(one.params(), many.params(), "grad_dtype " + grads);
            assertNotEquals(one.losses().get(0), one.losses().get(2)); // it trained
        }
    }

    @Test
    void executorsGetTheDriversWeightsRoundedToBf16() {
        float[] params = new float[5_000];
        java.util.Random random = new java.util.Random(3);
        for (int i = 0; i < params.length; i++) params[i] = (float) random.nextGaussian() * 0.02f;
        params[0] = Float.NaN;
        params[1] = -0.0f;
        params[2] = 1.0f + 0x1p-8f; // a tie: rounds to 1
        float[] before = params.clone();
        int blockFloats = TransferConfig.blockFloats(0.004); // 1048 floats: 5 blocks, the last one ragged
        for (boolean bf16 : new boolean[] {false, true}) {
            WeightBlocks weights = WeightBlocks.broadcast(sc, params, blockFloats, bf16);
            assertEquals(5, weights.blocks());
            List<float[]> seen = sc.parallelize(List.of(0, 1), 2).map(x -> {
                float[] into = new float[params.length];
                weights.copyInto(into);
                return into;
            }).collect();
            weights.destroy();
            assertArrayEquals(before, params, "the driver's weights are not changed");
            for (float[] got : seen) {
                for (int i = 0; i < params.length; i++) {
                    float expected = bf16 ? BFloat16.round(params[i]) : params[i];
                    assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(got[i]), "bf16 " + bf16 + ", weight " + i);
                }
            }
        }
        assertEquals(1.0f, BFloat16.round(params[2]));
    }

    @Test
    void sparkUiListsEachStepsLoss() throws Exception {
        descriptions.clear();
        Trainer.Result r = Trainer.train(sc, config("--max_steps=3", "--partitions=2", "--eval_interval=2"));
        sc.sc().listenerBus().waitUntilEmpty(10_000);
        // each result rides on the description of a job after it ("step 3 (step 2: loss 5.4865)", or with a step
        // submitted ahead "eval at step 2 (step 1: loss 5.5530; step 2: loss 5.5081)"); the last one has a job of
        // its own, over no partitions
        for (int i = 0; i < 3; i++) {
            String expected = String.format(Locale.ROOT, "step %d: loss %.4f", i + 1, r.losses().get(i));
            assertEquals(1, descriptions.stream().filter(d -> d.matches(".*[(;] ?" + java.util.regex.Pattern.quote(expected)
                    + "[;)].*")).count(), expected + " not once in " + descriptions);
        }
        for (double[] v : r.valLosses()) {
            String expected = String.format(Locale.ROOT, "eval at step %d: val loss %.4f", (int) v[0], v[1]);
            assertTrue(descriptions.stream().anyMatch(d -> d.endsWith("(" + expected + ")") || d.equals(expected)),
                    expected + " not in " + descriptions);
        }
        assertEquals(3, r.valLosses().size()); // steps 0, 2 and 3
    }

    @Test
    void badTransferKeysNameTheKey() {
        UserError e = assertThrows(UserError.class, () -> config("--transfer_block_mb=0"));
        assertTrue(e.getMessage().startsWith("transfer_block_mb = 0 (from command line): expected a size in MiB"),
                e.getMessage());
        e = assertThrows(UserError.class, () -> config("--aggregation=ring"));
        assertEquals("aggregation = ring (from command line): expected one of auto, tree, stream, sliced", e.getMessage());
        e = assertThrows(UserError.class, () -> config("--grad_dtype=fp16"));
        assertEquals("grad_dtype = fp16 (from command line): expected one of fp32, bf16", e.getMessage());
        e = assertThrows(UserError.class, () -> config("--weight_dtype=fp16"));
        assertEquals("weight_dtype = fp16 (from command line): expected one of fp32, bf16", e.getMessage());
        assertEquals("fp32", config().transfer().weightDtype());
        assertEquals("tree", config().transfer().aggregationFor(100_000_000, true, 2));
        assertEquals("stream", config().transfer().aggregationFor(100_000_000, false, 6));
        assertEquals("tree", config().transfer().aggregationFor(100_000_000, false, 7));
        assertEquals("tree", config("--grad_dtype=bf16").transfer().aggregationFor(100_000_000, false, 2));
        assertEquals("sliced", config().transfer().aggregationFor(300_000_000, false, 2));
        assertEquals("tree", config("--aggregation=tree").transfer().aggregationFor(300_000_000, false, 2));
        assertEquals("stream", config("--aggregation=stream").transfer().aggregationFor(300_000_000, false, 2));
        e = assertThrows(UserError.class, () -> config("--aggregation=stream", "--grad_dtype=bf16").transfer()
                .aggregationFor(100_000_000, true, 8));
        assertEquals("aggregation = stream: expected a cluster (executors in JVMs of their own), grad_dtype = fp32 and"
                + " at most 6 partitions, got local mode, grad_dtype = bf16, 8 partitions: use tree or auto", e.getMessage());
    }
}
