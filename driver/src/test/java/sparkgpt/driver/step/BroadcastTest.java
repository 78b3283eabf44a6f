// On a real multi-process cluster (local-cluster) with a 1 MB RPC message limit, a model larger than
// 1 MB trains, and the step's closure is KB: the weights travel by broadcast, never inside a task.
package sparkgpt.driver.step;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.spark.SparkEnv;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import scala.reflect.ClassTag$;
import sparkgpt.driver.config.Settings;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.TransferConfig;
import sparkgpt.driver.testing.TestData;
import sparkgpt.driver.train.SparkSetup;
import sparkgpt.driver.train.Trainer;
import sparkgpt.worker.GptConfig;

class BroadcastTest {

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void weightsTravelByBroadcast(@TempDir Path tmp) throws Exception {
        // local-cluster needs SPARK_HOME/jars to exist (surefire sets SPARK_HOME to target/spark-home)
        Files.createDirectories(Path.of(System.getenv("SPARK_HOME"), "jars"));
        String data = TestData.bytes(Files.createDirectories(tmp.resolve("data")), 4_000, 0);
        try (JavaSparkContext sc = SparkSetup.context("local-cluster[1,2,1024]", "BroadcastTest", Map.of(
                "spark.rpc.message.maxSize", "1",
                "spark.executor.extraClassPath", System.getProperty("java.class.path"),
                "spark.executor.cores", "2", "spark.task.cpus", "2"))) {
            Settings s = Settings.parse(List.of("--data=" + data, "--out_dir=" + tmp.resolve("out"), "--n_layer=2",
                    "--n_head=2", "--n_embd=128", "--block_size=16", "--batch_size=2", "--micro_batch_size=2",
                    "--max_steps=2", "--eval_interval=0"));
            TrainConfig c = TrainConfig.from(s);
            s.finish("train");
            Trainer.Result r = Trainer.train(sc, c);
            assertTrue(r.params().length * 4 > 1.5 * (1 << 20), "the model must exceed the 1 MB limit: "
                    + r.params().length * 4 + " bytes");
            assertEquals(2, r.losses().size());

            // the step's closure, as Spark serializes it, is a few KB, not the model's MB
            float[] weights = r.params();
            WeightBlocks bc = WeightBlocks.broadcast(sc, weights, TransferConfig.blockFloats(64));
            SerializerInstance closures = SparkEnv.get().closureSerializer().newInstance();
            GradientStep.Plan plan = new GradientStep.Plan(new GptConfig(2, 2, 128, 16, 256), 2, "auto", 2, 1, false, 0);
            int stepBytes = closures.serialize(GradientStep.train(bc, plan, 0), ClassTag$.MODULE$.Any()).limit();
            assertTrue(stepBytes < 16 << 10, "the step closure is " + stepBytes + " bytes");
            // controls: the same measurement sees captured weights, and the 1 MB limit refuses a task
            // message that carries them (Spark ships closures in a broadcast task binary, partitions in the message)
            org.apache.spark.api.java.function.Function<Integer, Integer> capturing = x -> weights.length + x;
            assertTrue(closures.serialize(capturing, ClassTag$.MODULE$.Any()).limit() > weights.length * 4);
            SparkException e = assertThrows(SparkException.class,
                    () -> sc.parallelize(List.of(weights), 1).map(w -> w.length).collect());
            assertTrue(e.getMessage().contains("spark.rpc.message.maxSize"), e.getMessage());
            bc.destroy();
        }
    }
}
