// The Spark settings the step loop needs, each with the measurement or failure behind it.
package sparkgpt.driver.train;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.data.ShardWriter;
import sparkgpt.driver.data.TokenWindows;
import sparkgpt.driver.step.GradientStep;
import sparkgpt.driver.step.GradientSum;

public final class SparkSetup {
    private SparkSetup() {}

    /** Every class that crosses the wire: Kryo with registrationRequired fails loudly on a forgotten one. */
    public static final Class<?>[] KRYO_CLASSES = {
            float[].class, short[].class, int[].class, char[].class, long[].class, double[].class, byte[].class, Object[].class,
            String[].class, TokenWindows.class, GradientStep.Partial.class, GradientStep.Partial[].class,
            GradientSum.class, GradientSum.Segment.class, java.util.ArrayList.class, float[][].class,
            scala.Tuple2.class, scala.Tuple2[].class, ShardWriter.Result.class, String[].class,
    };

    /** Names a spark-defaults.conf whose spark.* keys apply under the system properties (deploy/sparkgpt sets it). */
    static final String PROPERTIES_FILE = "sparkgpt.spark.properties";

    /**
     * Defaults first, then the spark.* keys of the -Dsparkgpt.spark.properties file, then spark.*
     * system properties (spark-submit style), then the given overrides.
     */
    public static JavaSparkContext context(String master, String appName, Map<String, String> overrides) {
        SparkConf conf = new SparkConf(true).setAppName(appName);
        String file = System.getProperty(PROPERTIES_FILE);
        if (file != null && !file.isEmpty()) readProperties(Path.of(file)).forEach((k, v) -> setDefault(conf, k, v));
        if (!conf.contains("spark.master")) conf.setMaster(master);
        setDefault(conf, "spark.serializer", "org.apache.spark.serializer.KryoSerializer");
        setDefault(conf, "spark.kryo.registrationRequired", "true");
        setDefault(conf, "spark.kryo.unsafe", "true");                 // ~3x faster float[]
        setDefault(conf, "spark.kryoserializer.buffer.max", "2047m");  // results stream; one block (transfer_block_mb) at most in one piece
        setDefault(conf, "spark.kryoserializer.buffer", "16m");        // fewer regrowth copies for large results
        // a gradient (a task result over 1 MB, Spark's default) goes through the executor's block manager, which the
        // driver fetches (to disk past spark.network.maxRemoteBlockSizeFetchToMem), not in the task's status message:
        // sent that way GPT-2 124M's 498 MB gradient took ~2.5 GB of executor heap in copies (the executor ran out of
        // memory at 11 GB) and 14.9 s of a 35.4 s step, against 1.4 s of 14.5 s in 9 GB; and the bench model's 53 MB
        // took 76-97 ms longer a step on two executors (3 alternating rounds, aggregation 310-410 against 213-330 ms)
        setDefault(conf, "spark.task.maxDirectResultSize", "1m");
        setDefault(conf, "spark.rpc.message.maxSize", "256");          // MiB; prepare's in-memory pieces ride in task descriptions
        setDefault(conf, "spark.driver.maxResultSize", "0");           // partitions x 4 x params bytes per step
        setDefault(conf, "spark.locality.wait", "0s");                 // a replacement executor gets tasks at once
        setDefault(conf, "spark.scheduler.minRegisteredResourcesRatio", "1.0");
        setDefault(conf, "spark.broadcast.compress", "false");         // float weights barely compress; LZ4 cost ~2 ms/MB
        setDefault(conf, "spark.broadcast.checksum", "false");         // an Adler-32 pass over every weight block, each step
        setDefault(conf, "spark.ui.showConsoleProgress", "false");     // the step lines are the progress
        // a slow executor (a busy node, a throttled GPU) holds every step: once half of a step's tasks are done, a
        // task running 1.5x the median gets a copy on another executor; a partition's result is a function of
        // (weights, step, partition), so whichever attempt finishes first gives the same bits (StragglerTest)
        if (!conf.get("spark.master").startsWith("local[") && !conf.get("spark.master").equals("local")) {
            setDefault(conf, "spark.speculation", "true");
            setDefault(conf, "spark.speculation.quantile", "0.5");
        }
        // one task per executor, threaded inside: each executor ships one gradient, not one per core
        if (conf.contains("spark.executor.cores")) setDefault(conf, "spark.task.cpus", conf.get("spark.executor.cores"));
        String jars = System.getProperty("sparkgpt.jars");
        if (jars != null && !jars.isEmpty()) setDefault(conf, "spark.jars", jars);
        overrides.forEach(conf::set);
        executorRegions(conf);
        conf.registerKryoClasses(KRYO_CLASSES);
        return new JavaSparkContext(conf);
    }

    /** Executor heaps below this get G1 regions of {@link #EXECUTOR_REGION}; G1's own choice is that size or more from here. */
    static final long REGION_HEAP_MB = 8192;
    static final String EXECUTOR_REGION = "-XX:G1HeapRegionSize=4m";

    /**
     * G1 regions of 4 MB on executors whose heap is under 8 GB, in front of the user's executor options (unless those
     * set a region size). G1 makes a region heap / 2048, rounded down to a power of 2, so 1-2 MB there; Spark writes
     * every task's result into a first chunk of 1 MB, which in such regions is humongous (half a region or more).
     * With the model's buffers holding most of the old generation, each humongous allocation started a concurrent
     * mark: one a step on the bench model's executors, 45-95 ms of an executor's CPU plus 2-15 ms of pauses. With 4 MB
     * regions the chunk is an ordinary young object; after warm-up no collection ran at all in 40 steps.
     */
    static void executorRegions(SparkConf conf) {
        String master = conf.get("spark.master");
        if (master.equals("local") || master.startsWith("local[")) return; // the driver's JVM is the executor
        String user = conf.get("spark.executor.extraJavaOptions", "");
        if (user.contains("G1HeapRegionSize") || conf.getSizeAsMb("spark.executor.memory", "1g") >= REGION_HEAP_MB) return;
        conf.set("spark.executor.extraJavaOptions", (EXECUTOR_REGION + " " + user).trim());
    }

    /**
     * Where this driver really runs and what Spark granted: master, deploy mode, application id and
     * attempt, and the executors registered now with their cores and memory (the first job has waited
     * for them: spark.scheduler.minRegisteredResourcesRatio = 1.0).
     */
    static String describe(JavaSparkContext sc) {
        SparkConf c = sc.getConf();
        String attempt = attemptId(sc) != null ? ", attempt " + attemptId(sc) : "";
        String head = "spark: master " + sc.master() + " (" + c.get("spark.submit.deployMode", "client") + " mode), "
                + sc.appName() + " " + sc.sc().applicationId() + attempt;
        long heapMb = Runtime.getRuntime().maxMemory() >> 20;
        if (sc.isLocal()) {
            return head + "; executor in this JVM: " + sc.defaultParallelism() + " cores, " + heapMb + " MB heap (driver memory)";
        }
        int executors = sc.sc().statusTracker().getExecutorInfos().length - 1; // the list includes the driver
        return head + "; " + executors + " executor(s) x " + c.get("spark.executor.cores", "1") + " core(s), "
                + c.get("spark.executor.memory", "1g") + " heap each; driver " + heapMb + " MB heap";
    }

    /** Spark's attempt of this application: "1", "2", ... when YARN reruns a failed driver; null in local mode. */
    static String attemptId(JavaSparkContext sc) {
        scala.Option<String> attempt = sc.sc().applicationAttemptId();
        return attempt.isDefined() ? attempt.get() : null;
    }

    /**
     * The spark.* entries of a spark-defaults.conf (java.util.Properties syntax, as spark-submit reads
     * it): plain key/value text, nothing in it is run or deserialized.
     */
    static Map<String, String> readProperties(Path file) {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (IOException e) {
            throw new UserError("cannot read Spark properties " + file + " (" + PROPERTIES_FILE + "): " + e, e);
        }
        Map<String, String> out = new java.util.TreeMap<>();
        for (String k : p.stringPropertyNames()) if (k.startsWith("spark.")) out.put(k, p.getProperty(k).trim());
        return out;
    }

    private static void setDefault(SparkConf conf, String key, String value) {
        if (!conf.contains(key)) conf.set(key, value);
    }
}
