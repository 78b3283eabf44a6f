// The floor under a training step's fixed cost in local mode: the wall time of a Spark job that does nothing,
// over one cached partition, with the settings a training run uses (SparkSetup). Run by hand:
//   java <deploy/env flags> -cp 'driver/target/lib/*:driver/target/classes:driver/target/test-classes' sparkgpt.driver.step.JobLatencyBench [local[2]] [rounds] [jobs]
// It prints the median, p10 and p90 of each round of jobs; compare with the bench's aggregation (the step's job
// less its task's compute).
package sparkgpt.driver.step;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;
import sparkgpt.driver.train.SparkSetup;

public final class JobLatencyBench {
    private JobLatencyBench() {}

    /** The task: reads its partition, as a step's task reads its cached windows, and returns nothing. */
    static final class Drain extends AbstractFunction1<scala.collection.Iterator<Integer>, Integer>
            implements java.io.Serializable {
        @Override
        public Integer apply(scala.collection.Iterator<Integer> it) {
            int n = 0;
            while (it.hasNext()) n += it.next();
            return n;
        }
    }

    public static void main(String[] args) throws Exception {
        String master = args.length > 0 ? args[0] : "local[2]";
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3, jobs = args.length > 2 ? Integer.parseInt(args[2]) : 200;
        try (JavaSparkContext sc = SparkSetup.context(master, "JobLatencyBench", Map.of("spark.ui.enabled", "false"))) {
            JavaRDD<Integer> rdd = sc.parallelize(List.of(1), 1).map(x -> x + 1).persist(StorageLevel.MEMORY_ONLY());
            rdd.count();
            scala.collection.immutable.Seq<Object> partitions = scala.jdk.javaapi.CollectionConverters.asScala(List.<Object>of(0)).toSeq();
            for (int r = 0; r < rounds; r++) {
                long[] ns = new long[jobs];
                for (int i = 0; i < jobs; i++) {
                    long t0 = System.nanoTime();
                    // the step's own call (TreeAggregation): submitJob with a result handler, no closure to clean
                    sc.sc().submitJob(rdd.rdd(), new Drain(), partitions,
                            (scala.Function2<Object, Integer, BoxedUnit>) (p, n) -> BoxedUnit.UNIT,
                            (scala.Function0<BoxedUnit>) () -> BoxedUnit.UNIT).get();
                    ns[i] = System.nanoTime() - t0;
                }
                Arrays.sort(ns);
                System.out.printf(Locale.ROOT, "%s: empty job over one cached partition: median %.2f ms, p10 %.2f, p90 %.2f (%d jobs)%n",
                        master, ns[jobs / 2] / 1e6, ns[jobs / 10] / 1e6, ns[jobs * 9 / 10] / 1e6, jobs);
            }
        }
    }
}
