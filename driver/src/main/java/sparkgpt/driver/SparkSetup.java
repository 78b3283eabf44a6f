// The Spark settings the step loop needs (see shared/PLATFORM.md for the measurements behind them).
package sparkgpt.driver;

import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

public final class SparkSetup {
    private SparkSetup() {}

    /** Every class that crosses the wire: Kryo with registrationRequired fails loudly on a forgotten one. */
    static final Class<?>[] KRYO_CLASSES = {
            float[].class, int[].class, char[].class, long[].class, double[].class, byte[].class, Object[].class,
            TokenBlock.class, GradientStep.Partial.class, GradientStep.Partial[].class,
            GradientSum.class, GradientSum.Segment.class, java.util.ArrayList.class,
            scala.Tuple2.class, scala.Tuple2[].class,
    };

    /** Defaults first, then spark.* system properties (spark-submit style), then the given overrides. */
    public static JavaSparkContext context(String master, String appName, Map<String, String> overrides) {
        SparkConf conf = new SparkConf(true).setAppName(appName);
        if (!conf.contains("spark.master")) conf.setMaster(master);
        setDefault(conf, "spark.serializer", "org.apache.spark.serializer.KryoSerializer");
        setDefault(conf, "spark.kryo.registrationRequired", "true");
        setDefault(conf, "spark.kryo.unsafe", "true");                 // ~3x faster float[]
        setDefault(conf, "spark.task.maxDirectResultSize", "2000m");   // gradients straight back, not via the block manager
        setDefault(conf, "spark.rpc.message.maxSize", "1024");
        setDefault(conf, "spark.driver.maxResultSize", "0");           // partitions x 4 x params bytes per step
        setDefault(conf, "spark.locality.wait", "0s");                 // a replacement executor gets tasks at once
        setDefault(conf, "spark.scheduler.minRegisteredResourcesRatio", "1.0");
        setDefault(conf, "spark.broadcast.compress", "false");         // float weights barely compress; LZ4 cost ~2 ms/MB
        setDefault(conf, "spark.ui.showConsoleProgress", "false");     // the step lines are the progress
        // one task per executor, threaded inside: each executor ships one gradient, not one per core
        if (conf.contains("spark.executor.cores")) setDefault(conf, "spark.task.cpus", conf.get("spark.executor.cores"));
        String jars = System.getProperty("sparkgpt.jars");
        if (jars != null && !jars.isEmpty()) setDefault(conf, "spark.jars", jars);
        overrides.forEach(conf::set);
        conf.registerKryoClasses(KRYO_CLASSES);
        return new JavaSparkContext(conf);
    }

    private static void setDefault(SparkConf conf, String key, String value) {
        if (!conf.contains(key)) conf.set(key, value);
    }
}
