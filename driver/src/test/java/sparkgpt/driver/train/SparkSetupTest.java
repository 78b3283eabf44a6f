// Executors under 8 GB of heap get 4 MB G1 regions ahead of the user's own executor options; a user's region
// size, a large heap and local mode (no executor JVM) are left alone.
package sparkgpt.driver.train;

import static org.junit.jupiter.api.Assertions.*;

import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

class SparkSetupTest {
    static String executorOptions(String master, String memory, String user) {
        SparkConf conf = new SparkConf(false).setMaster(master);
        if (memory != null) conf.set("spark.executor.memory", memory);
        if (user != null) conf.set("spark.executor.extraJavaOptions", user);
        SparkSetup.executorRegions(conf);
        return conf.get("spark.executor.extraJavaOptions", null);
    }

    @Test
    void smallExecutorHeapsGetFourMegabyteRegionsBeforeTheUsersOptions() {
        assertEquals("-XX:G1HeapRegionSize=4m", executorOptions("spark://h:7077", "3687m", null));
        assertEquals("-XX:G1HeapRegionSize=4m", executorOptions("yarn", null, null)); // Spark's default, 1g
        assertEquals("-XX:G1HeapRegionSize=4m -Dtest.x=1 -XX:+UseParallelGC",
                executorOptions("local-cluster[2,1,1024]", "1g", "-Dtest.x=1 -XX:+UseParallelGC"));
    }

    @Test
    void aUsersRegionSizeALargeHeapAndLocalModeAreLeftAlone() {
        assertEquals("-XX:G1HeapRegionSize=16m", executorOptions("spark://h:7077", "3g", "-XX:G1HeapRegionSize=16m"));
        assertNull(executorOptions("spark://h:7077", "8g", null));
        assertEquals("-Dtest.x=1", executorOptions("yarn", "16g", "-Dtest.x=1"));
        assertNull(executorOptions("local[2]", "1g", null));
        assertNull(executorOptions("local", null, null));
    }
}
